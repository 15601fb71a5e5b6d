"""The gRPC server's lifetime: started beside the HTTP app, on its event loop, stopped with it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from tritonclient.grpc import service_pb2_grpc

from service.grpc.servicer import InferenceServicer
from service.runtime.repository import ModelRepository
from service.settings import Settings

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 5.0
"""How long calls in flight may finish at shutdown."""


@asynccontextmanager
async def serving(repository: ModelRepository, settings: Settings) -> AsyncIterator[None]:
    """Serve ``GRPCInferenceService`` on ``settings.grpc_port`` (none when it is 0).

    Each uvicorn worker process binds the same port (SO_REUSEPORT, grpcio's default on
    Linux), as uvicorn's workers share the HTTP port, and the kernel spreads connections.
    """
    if not settings.grpc_port:
        yield
        return
    server = grpc.aio.server(
        options=[
            ("grpc.so_reuseport", 1),
            ("grpc.max_receive_message_length", settings.max_body_bytes),
            ("grpc.max_send_message_length", -1),
        ]
    )
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
        InferenceServicer(repository, settings), server
    )
    address = f"{settings.host}:{settings.grpc_port}"
    server.add_insecure_port(address)
    await server.start()
    logger.info("gRPC (Open Inference Protocol) on %s", address)
    try:
        yield
    finally:
        await server.stop(STOP_GRACE_SECONDS)
