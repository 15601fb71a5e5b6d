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
from time import monotonic
from typing import NoReturn

from starlette.concurrency import run_in_threadpool

from model import artifacts
from service.errors import ModelNotReady, NotFound
from service.observability import metrics
from service.runtime.version import ModelVersion, load_version
from service.settings import Settings

logger = logging.getLogger(__name__)

UNLOAD_GRACE_SECONDS = 30.0
"""How long a replaced version keeps batching the requests that already hold it; one that
comes later it answers alone (``MicroBatcher.close``)."""
NOT_READY_RETRY = {"Retry-After": "5"}
"""On a 503 before any version is loaded: loading and warming one up takes seconds (7-20 s
with TensorFlow), and a client or a proxy that honours Retry-After waits that out."""


class NothingToServe(Exception):
    """No version can answer requests that name none: the repository holds none that may,
    or none of those loads. A state of the disk to report, not a fault of the code."""


@dataclass(frozen=True)
class Plan:
    """What to serve, as the disk has it: the versions there may be, those that may answer
    requests that name none (the first choice first: the next stands in when it does not
    load), and every version's blessing."""

    available: list[int]
    defaults: list[int]
    blessings: dict[int, artifacts.Blessing]

    def served(self, default: int, keep: int) -> list[int]:
        """``default`` and the newest others beside it, ``keep`` versions in all."""
        others = [v for v in self.available if v != default]
        return sorted([*others[max(0, len(others) - keep + 1) :], default])


RETRY_FIRST_SECONDS = 60.0
"""A version that did not load is tried again this long after, though its files are the
same (what failed may have been memory or file handles, not the files), ..."""
RETRY_MOST_SECONDS = 3600.0
"""... then after twice as long each time it fails again, up to this."""


@dataclass(frozen=True)
class Failed:
    """A version that did not load: its files as they were then, why, and when to try it
    again unless they change first."""

    files: artifacts.Fingerprint
    problem: str
    retry_at: float
    wait: float


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
        self._failed: dict[int, Failed] = {}
        self._lock = threading.Lock()
        self.error: str | None = None

    @property
    def ready(self) -> bool:
        return bool(self._versions)

    def plan(self) -> Plan:
        """Read the repository: a pinned version alone, else the eligible versions (blessed,
        unless ``require_blessing`` is off), newest first, to answer by default."""
        root, pinned = self._settings.model_root, self._settings.model_version
        if not root.is_dir():
            raise NothingToServe(f"the model root {root} is not a folder")
        blessings = artifacts.blessings(root)
        available = list(blessings)
        if pinned is not None:
            if pinned not in available:
                raise NothingToServe(f"version {pinned} not found under {root}: {available}")
            return Plan([pinned], [pinned], blessings)
        if not available:
            raise NothingToServe(f"no model versions under {root}")
        eligible = available
        if self._settings.require_blessing:
            eligible = [v for v in available if blessings[v].blessed]
        if not eligible:
            raise NothingToServe(
                f"no blessed version under {root} (versions: {available}); bless one with "
                "python -m training.bless N, or set LENET_REQUIRE_BLESSING=false"
            )
        return Plan(available, eligible[::-1], blessings)

    def refresh(self) -> bool:
        """Load new versions and warm them up before they answer (blocking: run it in a thread).
        True when the set of served versions changed.

        The default is the first of the plan's that loads: a newer blessed version that does
        not load leaves the one before it answering (at start-up too), and one that cannot be
        loaded beside it is left out; either is logged once, and tried again once its files
        change or after a wait (``_loads``). Loading is all or nothing per version: no request
        sees one half loaded."""
        plan = self.plan()
        fresh: dict[int, ModelVersion] = {}
        try:
            default = next((v for v in plan.defaults if self._loads(v, fresh)), None)
            if default is None:
                self._keep_serving(plan)
            served = [
                v
                for v in plan.served(default, self._settings.keep_versions)
                if self._loads(v, fresh)
            ]
        except BaseException:
            for unused in fresh.values():  # loaded, never served: its batchers would linger
                unused.close()
            raise
        self._failed = {v: failed for v, failed in self._failed.items() if v in plan.available}
        with self._lock:
            dropped = [loaded for v, loaded in self._versions.items() if v not in served]
            self._versions = {v: fresh.get(v) or self._versions[v] for v in served}
            previous, self._default = self._default, default
            seen, self._blessings = self._blessings, plan.blessings
        root = self._settings.model_root
        for version in fresh:
            logger.info("serving %s version %d from %s", self._settings.model_name, version, root)
            self._count(version, served=True)
        self._log_blessings(plan, served, seen)
        if previous is None:
            logger.info("default version: %d", default)
        elif default != previous:
            logger.info("default version: %d (was %d)", default, previous)
        for old in dropped:
            logger.info("unloading %s version %d", old.name, old.version)
            self._count(old.version, served=False)
            closing = threading.Timer(UNLOAD_GRACE_SECONDS, old.close)
            closing.daemon = True  # never holds up the process's exit
            closing.start()
        return bool(fresh or dropped)

    def _keep_serving(self, plan: Plan) -> NoReturn:
        """No version that may answer by default loads: what is loaded answers on, the
        default too, though its blessing may have been taken back (an answer from it rather
        than none); the blessings read are shown as they are, and the problem raised."""
        with self._lock:
            self._blessings = plan.blessings
        problems = "; ".join(self._failed[v].problem for v in plan.defaults)
        raise NothingToServe(f"no version that may answer by default loads: {problems}")

    def _loads(self, version: int, fresh: dict[int, ModelVersion]) -> bool:
        """Whether ``version`` is loaded, or now loads into ``fresh``. One that failed is
        tried again once its files change, or after a wait that doubles each time: loading
        warms every backend up, and a failure logged on every poll would bury the log (a
        failure repeated is logged once, then at DEBUG)."""
        if version in self._versions or version in fresh:
            return True
        path = self._settings.model_root / str(version)
        files = artifacts.fingerprint(path)
        failed = self._failed.get(version)
        if failed is not None and failed.files == files and monotonic() < failed.retry_at:
            return False
        try:
            fresh[version] = load_version(self._settings, path)
        except Exception as exc:
            problem = f"version {version} does not load: {type(exc).__name__}: {exc}"
            wait, again = RETRY_FIRST_SECONDS, False
            if failed is not None and (failed.files, failed.problem) == (files, problem):
                wait, again = min(2 * failed.wait, RETRY_MOST_SECONDS), True
            self._failed[version] = Failed(files, problem, monotonic() + wait, wait)
            logger.log(
                logging.DEBUG if again else logging.ERROR,
                "%s; tried again in %.0f s or when its files change",
                problem,
                wait,
                exc_info=None if again else exc,
            )
            return False
        self._failed.pop(version, None)
        return True

    def _log_blessings(
        self, plan: Plan, served: list[int], seen: dict[int, artifacts.Blessing]
    ) -> None:
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
                if version in served
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
                error = f"the model failed to load: {exc}"
                if error != self.error:  # once, not on every poll until the disk changes
                    unexpected = not isinstance(exc, NothingToServe)
                    logger.error("%s", error, exc_info=exc if unexpected else None)
                self.error = error
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
                raise ModelNotReady(
                    self.error or "the model is still loading", headers=NOT_READY_RETRY
                )
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
