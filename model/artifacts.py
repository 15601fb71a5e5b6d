"""The on-disk model format: a repository of integer-versioned model directories.

Laid out as TF Serving expects (``<root>/<name>/<version>/saved_model.pb``), with the
framework-free weights and the model card beside the SavedModel::

    artifacts/lenet/1/
        saved_model.pb, variables/   the SavedModel: endpoints ``serve`` and ``activations``
        model.keras                  the Keras model, for further training
        weights.npz                  every weight keyed "<layer>/kernel", "<layer>/bias"
        model.onnx, activations.onnx ONNX graphs from those weights: probabilities; every layer
        architecture.json            the layer table: shapes, parameters, kernel sizes, ...
        metrics.json                 the model card: test accuracy, recipe, data hashes, ...
        history.json, curves.png     per-epoch loss/accuracy, training vs validation
        blessing.json                may it answer by default: blessed, candidate or revoked

A version is written to a hidden temporary folder beside its final place and renamed
into place in one step, so a reader never sees a half-written version; its blessing.json is
replaced the same way when it is blessed or revoked later. No TensorFlow here: the NumPy
backend reads this module too.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISREG
from typing import Any, Literal, get_args

import numpy as np
from pydantic_settings import BaseSettings, SettingsConfigDict

SAVED_MODEL_FILE = "saved_model.pb"
KERAS_FILE = "model.keras"
WEIGHTS_FILE = "weights.npz"
ONNX_FILE = "model.onnx"
ONNX_ACTIVATIONS_FILE = "activations.onnx"
METRICS_FILE = "metrics.json"
ARCHITECTURE_FILE = "architecture.json"
HISTORY_FILE = "history.json"
CURVES_FILE = "curves.png"
BLESSING_FILE = "blessing.json"
LOCK_FILE = ".blessings.lock"
"""In a model root: ``blessings_locked``'s."""
VERSION_FILES = frozenset(
    {
        SAVED_MODEL_FILE,
        "variables",
        KERAS_FILE,
        WEIGHTS_FILE,
        ONNX_FILE,
        ONNX_ACTIVATIONS_FILE,
        METRICS_FILE,
        ARCHITECTURE_FILE,
        HISTORY_FILE,
        CURVES_FILE,
        BLESSING_FILE,
    }
)
"""Everything a complete version folder holds, whichever backend trained it."""
TEMP_PREFIX = ".tmp-"


class ModelRootSettings(BaseSettings):
    """Where the model repository is, ``LENET_MODEL_ROOT``: the training job writes there
    and the service reads there, so both take it from this one setting."""

    model_config = SettingsConfigDict(env_prefix="LENET_", extra="ignore", protected_namespaces=())

    model_root: Path = Path("artifacts/lenet")
    """The model repository: integer version folders as the training job writes them."""


MAX_VERSION_DIGITS = 19
"""Versions have at most 19 digits, as the service takes a version named in a request."""


def version_of(name: str) -> int | None:
    """The version a folder ``name`` is, or None: only a number written as ``str(int)``
    writes it, so that the folder is ``root / str(version)`` (not ``003``, ``²`` or
    ``١``, all of which ``str.isdigit`` takes and ``int`` reads or refuses)."""
    if not (name.isascii() and name.isdigit() and len(name) <= MAX_VERSION_DIGITS):
        return None
    return int(name) if name == str(int(name)) else None


def list_versions(root: Path) -> list[int]:
    """Complete versions under ``root``, ascending; temporary and foreign entries are skipped."""
    if not root.is_dir():
        return []
    found = (version_of(p.name) for p in root.iterdir() if p.is_dir())
    return sorted(version for version in found if version is not None)


Fingerprint = tuple[tuple[str, int, int, int, int], ...]


def fingerprint(folder: Path) -> Fingerprint:
    """Every file under ``folder`` with its inode, size, and times of change: what changes
    when any of them is written, replaced or removed, a copy that keeps the old times too
    (``cp -a``: its inode and change time are new). A file or folder that cannot be looked
    at, or is removed while the walk goes on, is left out: loading will say why. (os.walk,
    not Path.rglob, which raised for a folder removed mid-walk and failed the whole poll.)"""
    files = []
    for directory, _, names in os.walk(folder):
        for name in names:
            path = Path(directory, name)
            try:
                stat = path.stat()
            except OSError:  # gone while looked at, or unreadable
                continue
            if S_ISREG(stat.st_mode):
                relative = path.relative_to(folder).as_posix()
                files.append(
                    (relative, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
                )
    return tuple(sorted(files))


def next_version(root: Path) -> int:
    versions = list_versions(root)
    return versions[-1] + 1 if versions else 1


@contextmanager
def writing_version(root: Path, version: int) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success rename it to ``root/version``.

    On any exception the temporary folder is removed and nothing appears under
    ``root/version``. The rename is atomic on one filesystem, which the sibling
    temporary folder guarantees.
    """
    final = root / str(version)
    if final.exists():
        raise FileExistsError(f"model version {final} already exists")
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{version}-", dir=root))
    try:
        yield staging
        staging.chmod(0o755)  # mkdtemp makes it 0700; readers in other accounts need access
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


BlessingStatus = Literal["blessed", "candidate", "revoked"]


@dataclass(frozen=True)
class Blessing:
    """A version's ``blessing.json``: whether it may answer requests that name no version.

    ``blessed``: it may; ``candidate``: published for inspection only (the training job found it
    worse, or nobody has judged it); ``revoked``: blessed once, then rolled back. Each change
    keeps the record it replaces in ``history``, so the file is also the version's audit log.
    """

    status: BlessingStatus
    reason: str
    by: str = ""
    """The command that decided, e.g. ``python -m training.bless``."""
    at: str = ""
    """When, ISO 8601 in UTC; stamped by ``record_blessing``."""
    history: tuple[dict[str, str], ...] = ()

    @property
    def blessed(self) -> bool:
        return self.status == "blessed"


UNJUDGED = Blessing("candidate", f"no {BLESSING_FILE}: never judged")


def read_blessing(version_dir: Path) -> Blessing:
    """The version's blessing; a missing or unreadable file reads as a candidate, never blessed."""
    try:
        data = read_json(version_dir / BLESSING_FILE)
    except FileNotFoundError:
        return UNJUDGED
    except (OSError, ValueError) as exc:
        return Blessing("candidate", f"unreadable {BLESSING_FILE}: {exc}")
    if not isinstance(data, dict) or data.get("status") not in get_args(BlessingStatus):
        statuses = ", ".join(get_args(BlessingStatus))
        return Blessing("candidate", f"{BLESSING_FILE} has no status of {statuses}")
    history = data.get("history", [])
    if not isinstance(history, list) or not all(isinstance(entry, dict) for entry in history):
        return Blessing("candidate", f"{BLESSING_FILE} has a history that is not a list of records")
    return Blessing(
        status=data["status"],
        reason=str(data.get("reason", "")),
        by=str(data.get("by", "")),
        at=str(data.get("at", "")),
        history=tuple({str(k): str(v) for k, v in entry.items()} for entry in history),
    )


@contextmanager
def blessings_locked(root: Path) -> Iterator[None]:
    """Hold the model root's lock on blessings: whoever reads blessings to decide what to
    write (bless, roll back) holds it from the read to the write, so that two at once do not
    both revoke the same version or drop each other's records from a history. An advisory
    lock (``flock``) on ``root/.blessings.lock``, released when the process ends however it
    ends; not taken by the service, which only reads, each file whole."""
    with open(root / LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def record_blessing(version_dir: Path, blessing: Blessing) -> Blessing:
    """Stamp ``blessing`` with the time, keep the record it replaces in its history, and
    replace ``blessing.json`` in one rename, so a reader sees the old record or the new one.
    On a published version, hold ``blessings_locked`` around it."""
    previous = version_dir / BLESSING_FILE
    replaced = read_blessing(version_dir) if previous.exists() else None
    stamped = replace(
        blessing,
        at=datetime.now(UTC).isoformat(timespec="seconds"),
        history=(*replaced.history, _record(replaced)) if replaced else (),
    )
    fd, staging = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{BLESSING_FILE}-", dir=version_dir)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(json.dumps(asdict(stamped), indent=2) + "\n")
            file.flush()
            os.fsync(file.fileno())  # on disk before the rename makes it the record
        os.chmod(staging, 0o644)  # mkstemp makes it 0600; readers in other accounts need it
        os.replace(staging, previous)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return stamped


def _record(blessing: Blessing) -> dict[str, str]:
    """The blessing without its history: one entry of the next record's history."""
    return {key: value for key, value in asdict(blessing).items() if key != "history"}


def blessings(root: Path) -> dict[int, Blessing]:
    """Every complete version under ``root`` and its blessing, ascending."""
    return {version: read_blessing(root / str(version)) for version in list_versions(root)}


def save_weights(path: Path, weights: dict[str, np.ndarray]) -> None:
    """Write weights keyed "<layer>/kernel" and "<layer>/bias" as float32 arrays.

    ``model.numpy_lenet.read_weights`` reads them back, with checks.
    """
    arrays: dict[str, Any] = {key: np.asarray(value, np.float32) for key, value in weights.items()}
    np.savez(path, **arrays)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def read_json(path: Path) -> Any:
    """The JSON in ``path``; one that is not JSON says which file it is."""
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
