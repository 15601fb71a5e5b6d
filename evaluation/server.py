"""The API the evaluation reads photos through: ``python -m service`` started for the run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench import baseline as previous
from bench import servers


@contextmanager
def server(model_root: Path, backend: str, baseline: str | None = None) -> Iterator[str]:
    """``python -m service`` as shipped, started by the bench's own launcher (or the code
    of ``baseline``, exported from git); its URL."""
    model_root = model_root.resolve()  # the same model, wherever the server starts
    with ExitStack() as stack:
        if baseline:
            tree = stack.enter_context(previous.exported(baseline))
            spec = servers.previous(servers.ours(backend, model_root), tree)
        else:
            spec = servers.ours(backend, model_root)
        started = stack.enter_context(servers.running([spec]))
        yield started[0].url
