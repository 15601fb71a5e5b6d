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

from model import artifacts
from service.backends import Backend, load_backend
from service.errors import InvalidInput, ModelNotReady, NotFound
from service.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelVersion:
    """One loaded version: its backends, its layer table and its model card."""

    name: str
    version: int
    path: Path
    backends: dict[str, Backend]
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


def load_version(settings: Settings, path: Path) -> ModelVersion:
    architecture = artifacts.read_json(path / artifacts.ARCHITECTURE_FILE)
    layer_names = [layer["name"] for layer in architecture["layers"]]
    backends = {name: load_backend(name, path, layer_names) for name in settings.backends}
    return ModelVersion(
        name=settings.model_name,
        version=int(path.name),
        path=path,
        backends=backends,
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

    def refresh(self) -> None:
        """Load new versions and warm them up before they answer (blocking: run it in a thread)."""
        wanted = self.wanted_versions()
        root = self._settings.model_root
        fresh = {
            v: load_version(self._settings, root / str(v))
            for v in wanted
            if v not in self._versions
        }
        with self._lock:
            self._versions = {v: fresh.get(v) or self._versions[v] for v in wanted}
        for version in fresh:
            logger.info("serving %s version %d from %s", self._settings.model_name, version, root)

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
