"""The FastAPI application: ``create_app(settings)`` assembles it; ``app`` is for uvicorn.

The layout, one room per role: ``runtime`` (the model repository, backends, batching),
``inputs`` (request bodies to the network's input), and the front ends that call them:
``api`` (the HTTP API of /v1: routes, contracts, OpenAPI, response bodies), ``v2`` (the
Open Inference Protocol over REST), ``grpc`` (the same over gRPC) and ``web`` (the page at
``/``, a client of the public API like any other, and the API's docs). Nothing flows back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service import access, observability, web
from service.admission import Admission
from service.api import openapi, routes
from service.errors import register_error_handlers
from service.garbage_collector import collect_young_objects_every
from service.grpc import server as grpc_server
from service.head import HeadAsGet
from service.inputs import photos
from service.limits import BodyDeadline, RequestSizeLimits
from service.memory import give_large_blocks_back
from service.observability import answered
from service.runtime.native_logs import quiet_below_errors
from service.runtime.repository import ModelRepository
from service.settings import Settings
from service.shutdown import Termination, on_stop_signals
from service.v2 import routes as v2_routes
from service.web import api_docs

DESCRIPTION = """LeNet-5 (LeCun et al., 1998) recognising handwritten digits.

POST a digit image (a phone photo of a digit on paper works) to `/v1/predict`, a photo of
a number to `/v1/read`; look inside the network with `/v1/activations` and
`/v1/activations/{layer}.png`, and see why it chose a digit with `/v1/explain`. The page at
[`/`](/) draws a digit and shows all of it.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    repository = ModelRepository(settings)
    termination = Termination()
    photos.use_one_thread()
    quiet_below_errors(settings.log_level)  # before any backend imports TensorFlow
    give_large_blocks_back()
    collect_young_objects_every(settings.gc_threshold)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with (
            repository.running(),
            grpc_server.serving(repository, settings, termination) as stop_grpc,
        ):
            with on_stop_signals(termination, settings.shutdown_delay_seconds, stop_grpc):
                yield
        answered.flush()  # the requests of the last tenth of a second

    app = FastAPI(
        title="lenet-serve",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # api_docs serves them, without a CDN
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.settings = settings
    app.state.repository = repository
    app.state.termination = termination
    app.add_middleware(HeadAsGet)  # innermost: what is outside it logs and counts a HEAD
    app.add_middleware(
        RequestSizeLimits,
        max_bytes=settings.max_body_bytes,
        max_head_bytes=settings.max_header_bytes,
    )
    app.add_middleware(
        BodyDeadline,
        timeout=settings.body_timeout_seconds,
        min_rate=settings.body_min_bytes_per_second,
    )
    app.add_middleware(Admission, repository=repository)  # before any body is read
    register_error_handlers(app)
    for router in (*routes.ROUTERS, v2_routes.router):
        app.include_router(router)
    web.install(app)
    api_docs.install(app)
    openapi.install(app, settings.backends)
    access.install(app, settings)  # API keys and CORS where set: after openapi, before metrics
    # Last: its middleware outermost, to see RequestSizeLimits's 413s too; its GET /metrics
    # after the API's routes, so that no request tries that route first.
    observability.install(app, settings)
    return app


app = create_app()
