"""The gRPC server's lifetime: started beside the HTTP app, on its event loop, stopped with it.

Its drain starts with the HTTP one (``service.shutdown`` calls the ``stop`` that ``serving``
yields when the signal's pause is over): it stops taking calls and finishes those in flight,
within the same ``LENET_SHUTDOWN_TIMEOUT_SECONDS``. uvicorn runs the lifespan's shutdown only
once its own requests are done, so waiting for that would keep taking gRPC calls meanwhile
and add the two drains up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from time import perf_counter
from typing import Any

import grpc

from service.grpc.servicer import HANDLERS, InferenceServicer, add_to_server
from service.keys import KeyFile, bearer
from service.observability.metrics import observe_request
from service.runtime.repository import ModelRepository
from service.settings import Settings
from service.shutdown import Termination

logger = logging.getLogger(__name__)


Stop = Callable[[], Awaitable[Any]]
"""Refuse new calls and give those in flight the grace period; the same drain however often
it is called."""


@asynccontextmanager
async def serving(
    repository: ModelRepository, settings: Settings, termination: Termination
) -> AsyncIterator[Stop | None]:
    """Serve ``GRPCInferenceService`` on ``settings.grpc_port`` (none when it is 0), and yield
    its ``Stop``; it is stopped on the way out whatever else stopped it.

    Each uvicorn worker process binds the same port (SO_REUSEPORT, grpcio's default on
    Linux), as uvicorn's workers share the HTTP port, and the kernel spreads connections;
    ``python -m service`` holds it first (``service.workers.hold``), so a port that another
    process listens on stops start-up instead of being shared with it.
    """
    if not settings.grpc_port:
        yield None
        return
    interceptors = []
    if settings.api_keys_file is not None:  # its own KeyFile: the HTTP app's is the app's
        interceptors.append(RequireApiKey(KeyFile(settings.api_keys_file), count=settings.metrics))
    server = grpc.aio.server(
        interceptors=interceptors,
        options=[
            ("grpc.so_reuseport", 1),
            ("grpc.max_receive_message_length", settings.max_body_bytes),
            ("grpc.max_send_message_length", -1),
        ],
    )
    add_to_server(InferenceServicer(repository, settings, termination), server)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host  # IPv6
    address = f"{host}:{settings.grpc_port}"
    server.add_insecure_port(address)
    await server.start()
    logger.info("gRPC (Open Inference Protocol) on %s", address)
    stopping: asyncio.Future[Any] | None = None

    def stop() -> asyncio.Future[Any]:
        nonlocal stopping
        if stopping is None:
            stopping = asyncio.ensure_future(server.stop(settings.shutdown_timeout_seconds))
        return stopping

    try:
        yield stop
    finally:
        await stop()


OPEN = frozenset(
    f"/inference.GRPCInferenceService/{name}" for name in ("ServerLive", "ServerReady")
)
"""The health RPCs, which need no key, as ``/v2/health/*`` needs none."""


class RequireApiKey(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Every call but ``OPEN``'s needs metadata ``authorization: Bearer <key>`` with a key
    of ``keys``, else it ends UNAUTHENTICATED (counted in the request metrics where
    ``count``, as the servicer counts the calls it answers). An interceptor rather than a
    check in each servicer method: a method implemented later is closed too."""

    def __init__(self, keys: KeyFile, *, count: bool) -> None:
        self._keys = keys
        self._count = count

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method in OPEN:  # an unknown method: UNIMPLEMENTED
            return handler
        given = [v for k, v in details.invocation_metadata or () if k == "authorization"]
        token = bearer(given[0]) if len(given) == 1 else None
        if token is not None and self._keys.allows(token):
            return handler
        code = grpc.StatusCode.UNAUTHENTICATED
        if len(given) > 1:  # as HTTP answers two Authorization headers (service.access)
            code = grpc.StatusCode.INVALID_ARGUMENT
            message = "send one authorization metadata entry, not several"
        elif token is None:
            message = "this call needs an API key: send metadata authorization: Bearer <key>"
        else:
            message = "the API key is not valid"
        return self._refusal(handler, details.method, code, message)

    def _refusal(
        self, handler: grpc.RpcMethodHandler, method: str, code: grpc.StatusCode, message: str
    ) -> grpc.RpcMethodHandler:
        """A handler of ``handler``'s kind (unary or streaming) that ends the call at once."""

        async def refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
            started = perf_counter()
            try:
                await context.abort(code, message)
            finally:
                if self._count:
                    observe_request("grpc", method, code.name, perf_counter() - started)

        kind = HANDLERS[(handler.request_streaming, handler.response_streaming)]
        return kind(
            refuse,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
