"""One loaded model version: its backends, each ready to call behind its batcher, its
explainer, its layer table and its model card."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model import artifacts
from service.errors import InvalidInput, NotFound
from service.observability.metrics import BatcherMetrics
from service.runtime import views
from service.runtime.backends import Backend, load_backend
from service.runtime.batching import MicroBatcher
from service.runtime.explaining import Explainer
from service.settings import Settings


@dataclass(frozen=True)
class Runner:
    """A backend behind its batcher: what a request calls, so concurrent requests' images
    share one model call."""

    backend: Backend
    batcher: MicroBatcher

    @property
    def name(self) -> str:
        return self.backend.name

    async def predict(self, images: np.ndarray, viewed: np.ndarray | None = None) -> np.ndarray:
        """(n, 28, 28, 1) images → (n, 10) probabilities, batched with their neighbours; an
        image where ``viewed`` is true is read as the average over its ``views``."""
        if viewed is None or not viewed.any():
            return await self.batcher.predict(images)
        rows, counts = views.expand(images, viewed)
        return views.average(await self.batcher.predict(rows, count=len(images)), counts)

    def activations(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """(n, 28, 28, 1) → every layer's output; blocking, not batched (one image a call)."""
        return self.backend.activations(images)


@dataclass(frozen=True)
class ModelVersion:
    """One loaded version, as the routes see it."""

    name: str
    version: int
    path: Path
    runners: dict[str, Runner]
    default_backend: str
    default_backend_reason: str
    explainer: Explainer
    architecture: dict[str, Any]
    card: dict[str, Any]

    @property
    def layer_names(self) -> list[str]:
        return [layer["name"] for layer in self.architecture["layers"]]

    def runner(self, backend: str | None) -> Runner:
        """The named backend's runner, or the default one's; 422 for one not loaded."""
        chosen = backend or self.default_backend
        if chosen not in self.runners:
            loaded = ", ".join(self.runners)
            raise InvalidInput(f"backend {chosen!r} is not loaded; this server has: {loaded}")
        return self.runners[chosen]

    def select_layers(self, wanted: str | None) -> list[str]:
        """``conv1,pool1`` → those layers in network order; None, empty or naming none
        (``,``) → every layer; 404 naming the unknown ones and the layers there are."""
        names = [name.strip() for name in (wanted or "").split(",") if name.strip()]
        if not names:
            return self.layer_names
        self.check_layers(names)
        return [name for name in self.layer_names if name in names]

    def check_layers(self, names: list[str]) -> None:
        """404 naming the unknown layers among ``names``, and the layers there are."""
        unknown = [name for name in names if name not in self.layer_names]
        if unknown:
            raise NotFound(
                f"unknown layer(s) {', '.join(unknown)}; layers: {', '.join(self.layer_names)}"
            )

    def close(self) -> None:
        for runner in self.runners.values():
            runner.batcher.close()


def load_version(settings: Settings, path: Path) -> ModelVersion:
    """Load and warm up every configured backend on the version folder at ``path``, and
    read the rest, before giving each backend its batcher: a version that fails to load
    leaves no batcher (nor its metrics' series) behind."""
    architecture = artifacts.read_json(path / artifacts.ARCHITECTURE_FILE)
    layer_names = [layer["name"] for layer in architecture["layers"]]
    backends = {
        name: load_backend(name, path, layer_names, settings.threads_per_backend)
        for name in settings.backends
    }
    explainer = Explainer(path / artifacts.WEIGHTS_FILE)
    card = artifacts.read_json(path / artifacts.METRICS_FILE)
    runners: dict[str, Runner] = {}
    for name, backend in backends.items():
        batcher = MicroBatcher(
            backend.predict,
            max_images=settings.max_images_per_call,
            max_delay=settings.batch_max_delay_ms / 1000,
            max_queue=settings.queue_max_images,
            inline_max=backend.inline_max_images,
            name=f"{name}-v{path.name}",
            metrics=BatcherMetrics(name, str(int(path.name))) if settings.metrics else None,
        )
        runners[name] = Runner(backend, batcher)
    default_backend, reason = settings.chosen_backend
    return ModelVersion(
        name=settings.model_name,
        version=int(path.name),
        path=path,
        runners=runners,
        default_backend=default_backend,
        default_backend_reason=reason,
        explainer=explainer,
        architecture=architecture,
        card=card,
    )
