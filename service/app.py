"""The FastAPI application: ``create_app(settings)``, and ``app`` for uvicorn."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from service.errors import register_error_handlers
from service.inputs import photos
from service.limits import BodySizeLimit
from service.repository import UNLOAD_GRACE_SECONDS, ModelRepository
from service.routes import activations, health, model, predict, read
from service.settings import Settings

logger = logging.getLogger(__name__)

DESCRIPTION = """LeNet-5 (LeCun et al., 1998) recognising handwritten digits.

POST a digit image (a phone photo of a digit on paper works) to `/v1/predict`, a photo of
a number to `/v1/read`; look inside the network with `/v1/activations` and
`/v1/activations/{layer}.png`.
"""


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


async def watch_models(repository: ModelRepository, poll_seconds: float) -> None:
    """Load in a worker thread while the server already answers /healthz (503 elsewhere),
    then look for new versions every ``poll_seconds``. A version that fails to load is
    logged and skipped; the versions already loaded keep serving."""
    while True:
        try:
            if await run_in_threadpool(repository.refresh):
                settle_heap()
                asyncio.get_running_loop().call_later(UNLOAD_GRACE_SECONDS + 1, settle_heap)
            repository.error = None
        except Exception as exc:
            logger.exception("loading the model repository failed")
            repository.error = f"the model failed to load: {exc}"
        if not poll_seconds:
            return
        await asyncio.sleep(poll_seconds)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    photos.use_one_thread()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        watching = asyncio.create_task(watch_models(app.state.repository, settings.poll_seconds))
        yield
        watching.cancel()
        app.state.repository.close()

    app = FastAPI(title="lenet-serve", version="1", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.repository = ModelRepository(settings)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    register_error_handlers(app)
    for module in (predict, read, activations, model, health):
        app.include_router(module.router)
    return app


app = create_app()
