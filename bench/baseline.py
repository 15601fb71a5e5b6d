"""The previous code, from git, measured beside ours without checking anything out.

``--baseline`` names a revision (e4ad4a1 by default: the code before issue 11's photo
pipeline). The photos part imports one module of it from ``git show``; the HTTP part runs
its whole service from a ``git archive`` export. Without git, or in a clone that lacks the
revision (a shallow one), both say so and leave the previous code out.
"""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = "e4ad4a1"
"""The code before issue 11's photo pipeline ("photos as people take them")."""
GIT_TIMEOUT_S = 60


class Unavailable(RuntimeError):
    """Git or the revision is missing here; the message says which."""


class _GitFailed(Unavailable):
    """Git ran and refused."""


def _git(*arguments: str) -> bytes:
    try:
        done = subprocess.run(
            ["git", *arguments], cwd=ROOT, capture_output=True, timeout=GIT_TIMEOUT_S
        )
    except FileNotFoundError as exc:
        raise Unavailable("git is not installed") from exc
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise _GitFailed(f"git {arguments[0]}: {message[-1] if message else done.returncode}")
    return done.stdout


def commit(revision: str) -> str:
    """The full hash of ``revision``; ``Unavailable`` if this clone lacks it."""
    try:
        return _git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}").decode().strip()
    except _GitFailed as exc:
        shallow = _git("rev-parse", "--is-shallow-repository").decode().strip() == "true"
        raise Unavailable(
            f"this clone has no commit {revision}" + (" (it is shallow)" if shallow else "")
        ) from exc


def load_module(revision: str, path: str, name: str) -> ModuleType:
    """The file ``path`` as it was at ``revision``, imported as the module ``name`` (private,
    so it never shadows the current one); its own imports resolve against today's tree."""
    source = _git("show", f"{commit(revision)}:{path}")
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as scratch:
        file = Path(scratch) / Path(path).name
        file.write_bytes(source)
        spec = importlib.util.spec_from_file_location(name, file)
        if spec is None or spec.loader is None:
            raise Unavailable(f"cannot import {path} from {revision}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except ImportError as exc:  # it needs something today's tree no longer has
            del sys.modules[name]
            raise Unavailable(f"{path} at {revision} does not import today: {exc}") from exc
    return module


@contextmanager
def exported(revision: str) -> Iterator[Path]:
    """The whole tree at ``revision`` in a scratch folder (``git archive``), removed on exit."""
    archive = _git("archive", "--format=tar", commit(revision))
    with tempfile.TemporaryDirectory(prefix="bench-previous-") as scratch:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(scratch, filter="data")
        yield Path(scratch)


def imported_from(tree: Path, path: str) -> bool:
    """Whether a process compiled ``tree/path`` (its bytecode cache exists): proof that it ran
    the exported file and not the same module of the installed, current tree."""
    return Path(importlib.util.cache_from_source(str(tree / path))).exists()
