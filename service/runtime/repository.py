"""The model repository: finds versions on disk, loads them, hands them out, and watches
for new ones while the server runs.

It is the one owner of loading, so routes never touch the filesystem, and it is where
several versions side by side (and picking up new ones) belong.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.concurrency import run_in_threadpool

from model import artifacts
from service.errors import ModelNotReady, NotFound
from service.observability import metrics
from service.runtime.version import ModelVersion, load_version
from service.settings import Settings

logger = logging.getLogger(__name__)

UNLOAD_GRACE_SECONDS = 30.0
"""How long a replaced version keeps answering requests that already hold it."""


class ModelRepository:
    """Serves the newest ``keep_versions`` versions under ``model_root`` (or the pinned one).

    ``refresh`` loads versions that appeared since the last look and unloads those that fell
    out of the window, so a running server picks up what the training job publishes.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._versions: dict[int, ModelVersion] = {}
        self._lock = threading.Lock()
        self.error: str | None = None

    @property
    def ready(self) -> bool:
        return bool(self._versions)

    def wanted_versions(self) -> list[int]:
        root, pinned = self._settings.model_root, self._settings.model_version
        available = artifacts.list_versions(root)
        if pinned is not None:
            if pinned not in available:
                raise FileNotFoundError(f"version {pinned} not found under {root}: {available}")
            return [pinned]
        if not available:
            raise FileNotFoundError(f"no model versions under {root}")
        return available[-self._settings.keep_versions :]

    def refresh(self) -> bool:
        """Load new versions and warm them up before they answer (blocking: run it in a thread).
        True when the set of served versions changed."""
        wanted = self.wanted_versions()
        root = self._settings.model_root
        fresh = {
            v: load_version(self._settings, root / str(v))
            for v in wanted
            if v not in self._versions
        }
        with self._lock:
            dropped = [loaded for v, loaded in self._versions.items() if v not in wanted]
            self._versions = {v: fresh.get(v) or self._versions[v] for v in wanted}
        for version in fresh:
            logger.info("serving %s version %d from %s", self._settings.model_name, version, root)
            self._count(version, served=True)
        for old in dropped:
            logger.info("unloading %s version %d", old.name, old.version)
            self._count(old.version, served=False)
            closing = threading.Timer(UNLOAD_GRACE_SECONDS, old.close)
            closing.daemon = True  # never holds up the process's exit
            closing.start()
        return bool(fresh or dropped)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Load and watch in the background for as long as the server runs (its lifespan),
        then stop every version's batchers."""
        watching = asyncio.create_task(self._watch())
        try:
            yield
        finally:
            watching.cancel()
            self.close()

    async def _watch(self) -> None:
        """Load in a worker thread while the server already answers /healthz (503 elsewhere),
        then look for new versions every ``poll_seconds``. A version that fails to load is
        logged and skipped; the versions already loaded keep serving."""
        poll_seconds = self._settings.poll_seconds
        while True:
            try:
                if await run_in_threadpool(self.refresh):
                    settle_heap()
                    asyncio.get_running_loop().call_later(UNLOAD_GRACE_SECONDS + 1, settle_heap)
                self.error = None
            except Exception as exc:
                logger.exception("loading the model repository failed")
                self.error = f"the model failed to load: {exc}"
            if not poll_seconds:
                return
            await asyncio.sleep(poll_seconds)

    def close(self) -> None:
        """Stop every version's batchers (at shutdown)."""
        with self._lock:
            versions, self._versions = list(self._versions.values()), {}
        for loaded in versions:
            loaded.close()
            self._count(loaded.version, served=False)

    def _count(self, version: int, *, served: bool) -> None:
        if self._settings.metrics:
            metrics.version_served(version, served)

    def get(self, version: str | None = None) -> ModelVersion:
        """The requested version, or the latest; 503 until something is loaded."""
        with self._lock:
            if not self._versions:
                raise ModelNotReady(self.error or "the model is still loading")
            if version is None:
                return self._versions[max(self._versions)]
            # ASCII digits, and few: str.isdigit takes "²", and int() refuses it and 4,301 digits
            number = version.isascii() and version.isdigit() and len(version) < 20
            if number and int(version) in self._versions:
                return self._versions[int(version)]
            served = ", ".join(str(v) for v in sorted(self._versions))
        raise NotFound(f"model version {version!r} is not served; served: {served}")

    def versions(self) -> list[int]:
        with self._lock:
            return sorted(self._versions)


def settle_heap() -> None:
    """Hide what loading built from the cyclic garbage collector (``gc.freeze``).

    A loaded model leaves tens of thousands of long-lived objects (TensorFlow far more), and
    every full collection walks them all, ~20 ms with ONNX Runtime alone (docs/benchmarks.md
    has the command), on the event loop, in the middle of some request. Frozen, they are never
    walked; they are still freed by reference counting. Unfreezing first lets a collection
    reclaim a replaced version, once its unload grace is over and nothing holds it (hence a
    second call then).
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
