"""The model repository: finds versions on disk, loads them, hands them out, and watches
for new ones while the server runs.

It is the one owner of loading, so routes never touch the filesystem, and it is where
several versions side by side (and picking up new ones) belong. It is also where the default
version is chosen, for /v1, /v2 and gRPC alike: the newest *blessed* one, so that a version the
training job published as a candidate is only reached by asking for it (``?version=N``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from model import artifacts
from service.errors import ModelNotReady, NotFound
from service.observability import metrics
from service.runtime.version import ModelVersion, load_version
from service.settings import Settings

logger = logging.getLogger(__name__)

UNLOAD_GRACE_SECONDS = 30.0
"""How long a replaced version keeps answering requests that already hold it."""


@dataclass(frozen=True)
class Plan:
    """What to serve: the versions to load, the one answering requests that name none, and
    every version's blessing on disk."""

    versions: list[int]
    default: int
    blessings: dict[int, artifacts.Blessing]


@dataclass(frozen=True)
class Loaded:
    """A loaded version as /v1/model describes it."""

    model: ModelVersion
    blessing: artifacts.Blessing
    default: bool


class ModelRepository:
    """Serves the default version under ``model_root`` (the newest blessed one, or the pinned
    one) and the newest others up to ``keep_versions``.

    ``refresh`` loads versions that appeared since the last look, unloads those that fell out of
    the window and moves the default to where the blessings say, so a running server picks up
    what the training job publishes and what ``python -m training.bless`` or ``rollback`` decide.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._versions: dict[int, ModelVersion] = {}
        self._default: int | None = None
        self._blessings: dict[int, artifacts.Blessing] = {}
        self._lock = threading.Lock()
        self.error: str | None = None

    @property
    def ready(self) -> bool:
        return bool(self._versions)

    def plan(self) -> Plan:
        """Read the repository: a pinned version alone, else the newest eligible version as the
        default (blessed, unless ``require_blessing`` is off) and the newest others beside it."""
        root, pinned = self._settings.model_root, self._settings.model_version
        blessings = artifacts.blessings(root)
        available = list(blessings)
        if pinned is not None:
            if pinned not in available:
                raise FileNotFoundError(f"version {pinned} not found under {root}: {available}")
            return Plan([pinned], pinned, blessings)
        if not available:
            raise FileNotFoundError(f"no model versions under {root}")
        eligible = available
        if self._settings.require_blessing:
            eligible = [v for v in available if blessings[v].blessed]
        if not eligible:
            raise FileNotFoundError(
                f"no blessed version under {root} (versions: {available}); bless one with "
                "python -m training.bless N, or set LENET_REQUIRE_BLESSING=false"
            )
        default = eligible[-1]
        others = [v for v in available if v != default]
        beside = others[max(0, len(others) - self._settings.keep_versions + 1) :]
        return Plan(sorted([*beside, default]), default, blessings)

    def refresh(self) -> bool:
        """Load new versions and warm them up before they answer (blocking: run it in a thread).
        True when the set of served versions changed."""
        plan = self.plan()
        root = self._settings.model_root
        fresh = {
            v: load_version(self._settings, root / str(v))
            for v in plan.versions
            if v not in self._versions
        }
        with self._lock:
            dropped = [loaded for v, loaded in self._versions.items() if v not in plan.versions]
            self._versions = {v: fresh.get(v) or self._versions[v] for v in plan.versions}
            previous, self._default = self._default, plan.default
            seen, self._blessings = self._blessings, plan.blessings
        for version in fresh:
            logger.info("serving %s version %d from %s", self._settings.model_name, version, root)
            self._count(version, served=True)
        self._log_blessings(plan, seen)
        if previous is None:
            logger.info("default version: %d", plan.default)
        elif plan.default != previous:
            logger.info("default version: %d (was %d)", plan.default, previous)
        for old in dropped:
            logger.info("unloading %s version %d", old.name, old.version)
            self._count(old.version, served=False)
            closing = threading.Timer(UNLOAD_GRACE_SECONDS, old.close)
            closing.daemon = True  # never holds up the process's exit
            closing.start()
        return bool(fresh or dropped)

    def _log_blessings(self, plan: Plan, seen: dict[int, artifacts.Blessing]) -> None:
        """Log each version whose blessing is new or changed since the last look: why a version
        is skipped as the default is in the log, once."""
        for version, blessing in plan.blessings.items():
            if seen.get(version) == blessing:
                continue
            if blessing.blessed or not self._settings.require_blessing:
                logger.info("version %d is %s: %s", version, blessing.status, blessing.reason)
                continue
            reachable = (
                f"loaded for ?version={version}"
                if version in plan.versions
                else "not loaded (LENET_KEEP_VERSIONS)"
            )
            logger.warning(
                "skipping version %d as the default: %s, not blessed (%s); %s",
                version,
                blessing.status,
                blessing.reason,
                reachable,
            )

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
            self._default = None
        for loaded in versions:
            loaded.close()
            self._count(loaded.version, served=False)

    def _count(self, version: int, *, served: bool) -> None:
        if self._settings.metrics:
            metrics.version_served(version, served)

    def get(self, version: str | None = None) -> ModelVersion:
        """The requested version, or the default one; 503 until something is loaded."""
        with self._lock:
            if not self._versions or self._default is None:
                raise ModelNotReady(self.error or "the model is still loading")
            if version is None:
                return self._versions[self._default]
            # ASCII digits, and few: str.isdigit takes "²", and int() refuses it and 4,301 digits
            number = version.isascii() and version.isdigit() and len(version) < 20
            if number and int(version) in self._versions:
                return self._versions[int(version)]
            served = ", ".join(str(v) for v in sorted(self._versions))
        raise NotFound(f"model version {version!r} is not served; served: {served}")

    def versions(self) -> list[int]:
        with self._lock:
            return sorted(self._versions)

    def blessing(self, version: int) -> artifacts.Blessing:
        """The version's blessing as of the last look at the disk."""
        with self._lock:
            return self._blessings.get(version, artifacts.UNJUDGED)

    def loaded(self) -> list[Loaded]:
        """Every loaded version with its blessing, ascending; which one is the default."""
        with self._lock:
            return [
                Loaded(model, self._blessings.get(v, artifacts.UNJUDGED), v == self._default)
                for v, model in sorted(self._versions.items())
            ]


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
