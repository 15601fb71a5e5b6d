"""``python -m service``: serve with uvicorn on the configured host and ports, in
``LENET_WORKERS`` processes (``service.workers``: each its own socket on the port).

Logs go to stderr through uvicorn's logging config, which every worker applies: uvicorn's
own, the ``service`` loggers (versions loaded, errors) and the JSON access log on
``service.access`` (a handler of its own that writes the bare message: one JSON document a
line), all at ``LENET_LOG_LEVEL``. uvicorn's own access log is off: the JSON one replaces it.

On SIGTERM the process first answers not ready for ``LENET_SHUTDOWN_DELAY_SECONDS`` while
it serves on (``service.shutdown``); then uvicorn stops accepting, lets the requests in flight
finish (for at most ``LENET_SHUTDOWN_TIMEOUT_SECONDS``) and runs the lifespan's shutdown, and
the gRPC server drains at the same time. The process then exits with status 0. With several
workers the parent passes the signal on to each, which does the same, and exits with status
0 once all have.

Start-up stops with status 2 when a setting is wrong (a line for each, naming its
variable), and with uvicorn's 3 when a port is taken or the app cannot start.
"""

import copy
import logging
import logging.config
import signal
import sys
from contextlib import AbstractContextManager, nullcontext
from socket import socket
from types import FrameType
from typing import Any

import uvicorn
from pydantic import ValidationError
from pydantic_settings import SettingsError
from uvicorn.config import LOGGING_CONFIG
from uvicorn.logging import TRACE_LOG_LEVEL

from service.connections import http_protocol
from service.observability.exposition import forget_worker, shared_by_workers
from service.settings import Settings, problems
from service.workers import hold, serve

USAGE = 2
"""The exit status for settings that cannot be served, a usage error's (as click's)."""

logger = logging.getLogger("service")


def logging_config(level: str) -> dict[str, Any]:
    """uvicorn's logging config with ours added: uvicorn configures only its own loggers."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["json_line"] = {"format": "%(message)s"}
    config["handlers"]["access_json"] = {
        "formatter": "json_line",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["service"] = {"handlers": ["default"], "level": level}
    config["loggers"]["service.access"] = {
        "handlers": ["access_json"],
        "level": level,
        "propagate": False,  # not through "service" as well: one line per request
    }
    return config


def describe(settings: Settings) -> str:
    """What is about to serve, and where; each worker then logs the versions it loads."""
    places = f"HTTP on {settings.host}:{settings.port}"
    if settings.root_path:
        places += f" (its proxy's {settings.root_path})"
    if settings.grpc_port:
        places += f", gRPC on {settings.host}:{settings.grpc_port}"
    backend, _ = settings.chosen_backend
    parts = [
        places,
        f"{settings.workers} worker(s)",
        f"models from {settings.model_root}",
        f"backends {', '.join(settings.backends)} (default {backend})",
    ]
    if settings.metrics:
        parts.append("metrics on GET /metrics")
    if settings.access_log:
        parts.append("JSON access log")
    return "lenet-serve: " + "; ".join(parts)


def read_settings() -> Settings:
    """The settings, or an exit with ``USAGE`` and a line on stderr for each problem."""
    try:
        return Settings()
    except (ValidationError, SettingsError) as exc:
        for problem in problems(exc):
            print(f"lenet-serve: {problem}", file=sys.stderr)
        raise SystemExit(USAGE) from None


def grpc_port_held(settings: Settings) -> AbstractContextManager[socket | None]:
    """The gRPC port held for this service's processes, which each bind it with
    ``SO_REUSEPORT`` (``service.grpc.server``), as the HTTP port is (``service.workers``): a
    port another process holds stops start-up now, not after the models load or, with
    ``SO_REUSEPORT`` on both sides, never. Nothing when gRPC is off."""
    if not settings.grpc_port:
        return nullcontext()
    return hold(settings.host, settings.grpc_port, "gRPC (LENET_GRPC_PORT)")


def exit_cleanly(signum: int, frame: FrameType | None) -> None:
    """SIGTERM's handler outside uvicorn's: end with status 0. uvicorn, having drained, raises
    the signal again under the handler it found, and the default one would report the
    process as killed (status -15) after an orderly stop."""
    raise SystemExit(0)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, exit_cleanly)
    settings = read_settings()
    log_config = logging_config(settings.log_level.upper())
    logging.addLevelName(TRACE_LOG_LEVEL, "TRACE")  # uvicorn names it only in its Config
    logging.config.dictConfig(log_config)
    logger.info(describe(settings))
    config = uvicorn.Config(
        "service.app:app",  # an import string, so that several workers can each import it
        host=settings.host,
        port=settings.port,
        root_path=settings.root_path,
        workers=settings.workers,
        log_level=settings.log_level,
        log_config=log_config,
        access_log=False,
        http=http_protocol(
            settings.header_timeout_seconds, settings.max_header_bytes, settings.cors_origins
        ),
        limit_concurrency=settings.max_connections,
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
    )
    with grpc_port_held(settings), shared_by_workers(settings):
        serve(config, on_worker_exit=forget_worker)
