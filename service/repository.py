"""The model repository: finds versions on disk, loads them into backends, hands them out.

It is the one owner of loading, so routes never touch the filesystem, and it is where
several versions side by side (and picking up new ones) belong.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model import artifacts
from service.backends import Backend, load_backend
from service.batching import MicroBatcher
from service.errors import InvalidInput, ModelNotReady, NotFound
from service.settings import Settings

logger = logging.getLogger(__name__)

UNLOAD_GRACE_SECONDS = 30.0
"""How long a replaced version keeps answering requests that already hold it."""


@dataclass(frozen=True)
class ModelVersion:
    """One loaded version: its backends (each behind a batcher), layer table and model card."""

    name: str
    version: int
    path: Path
    backends: dict[str, Backend]
    batchers: dict[str, MicroBatcher]
    default_backend: str
    architecture: dict[str, Any]
    card: dict[str, Any]

    @property
    def layer_names(self) -> list[str]:
        return [layer["name"] for layer in self.architecture["layers"]]

    def backend(self, name: str | None) -> Backend:
        chosen = name or self.default_backend
        if chosen not in self.backends:
            loaded = ", ".join(self.backends)
            raise InvalidInput(f"backend {chosen!r} is not loaded; this server has: {loaded}")
        return self.backends[chosen]

    async def predict(self, backend: Backend, images: np.ndarray) -> np.ndarray:
        """(n, 28, 28, 1) images → (n, 10) probabilities, through ``backend``'s batcher."""
        return await self.batchers[backend.name].predict(images)

    def close(self) -> None:
        for batcher in self.batchers.values():
            batcher.close()


def load_version(settings: Settings, path: Path) -> ModelVersion:
    architecture = artifacts.read_json(path / artifacts.ARCHITECTURE_FILE)
    layer_names = [layer["name"] for layer in architecture["layers"]]
    backends = {
        name: load_backend(name, path, layer_names, settings.threads_per_backend)
        for name in settings.backends
    }
    batchers = {
        name: MicroBatcher(
            backend.predict,
            max_batch=settings.batch_max_size,
            max_delay=settings.batch_max_delay_ms / 1000,
            max_queue=settings.queue_max_images,
            inline_max=backend.inline_max_images,
            name=f"{name}-v{path.name}",
        )
        for name, backend in backends.items()
    }
    return ModelVersion(
        name=settings.model_name,
        version=int(path.name),
        path=path,
        backends=backends,
        batchers=batchers,
        default_backend=str(settings.default_backend),
        architecture=architecture,
        card=artifacts.read_json(path / artifacts.METRICS_FILE),
    )


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
        for old in dropped:
            logger.info("unloading %s version %d", old.name, old.version)
            closing = threading.Timer(UNLOAD_GRACE_SECONDS, old.close)
            closing.daemon = True  # never holds up the process's exit
            closing.start()
        return bool(fresh or dropped)

    def close(self) -> None:
        """Stop every version's batchers (at shutdown)."""
        with self._lock:
            versions, self._versions = list(self._versions.values()), {}
        for loaded in versions:
            loaded.close()

    def get(self, version: str | None = None) -> ModelVersion:
        """The requested version, or the latest; 503 until something is loaded."""
        with self._lock:
            if not self._versions:
                raise ModelNotReady(self.error or "the model is still loading")
            if version is None:
                return self._versions[max(self._versions)]
            if version.isdigit() and int(version) in self._versions:
                return self._versions[int(version)]
            served = ", ".join(str(v) for v in sorted(self._versions))
        raise NotFound(f"model version {version!r} is not served; served: {served}")

    def versions(self) -> list[int]:
        with self._lock:
            return sorted(self._versions)
