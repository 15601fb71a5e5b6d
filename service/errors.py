"""Exceptions that carry their HTTP status, and the one handler table that renders them.

Every error leaves the service as ``{"error": {"status", "code", "message"}}``, or under
``/v2`` as the Open Inference Protocol has it, ``{"error": "message"}``; nothing else (no
stack trace, no framework-specific shape) ever reaches a client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Scope

from service.observability import access_log
from service.paths import app_path, is_v2

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """Base class: subclasses set ``status_code`` and a stable machine-readable ``code``."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers


class BadRequest(ServiceError):
    """The body could not be read at all: an undecodable or truncated image, bad base64."""

    status_code = 400
    code = "bad_request"


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"


class PayloadTooLarge(ServiceError):
    """Body bytes, image pixels (decompression bombs) or batch size over a configured limit."""

    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(ServiceError):
    status_code = 415
    code = "unsupported_media_type"


class InvalidInput(ServiceError):
    """Well-formed but wrong: shape, range, NaN/Inf, JSON types."""

    status_code = 422
    code = "invalid_input"


class NoDigit(InvalidInput):
    """An image with nothing written on it: a blank sheet, the desk alone. Guessing a digit
    from noise would be a confident wrong answer."""

    code = "no_digit"


class ModelNotReady(ServiceError):
    status_code = 503
    code = "model_not_ready"


class Overloaded(ServiceError):
    """The batching queue is full: back off instead of queueing without bound."""

    status_code = 503
    code = "overloaded"


class ShuttingDown(ServiceError):
    """The server is stopping: its readiness says so from the stop signal on, and a request
    still unfinished when the shutdown limit runs out is cut with this answer."""

    status_code = 503
    code = "shutting_down"


def error_response(
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    *,
    scope: Scope,
) -> JSONResponse:
    """The error body for the request of ``scope``: the protocol's own under ``/v2``."""
    body: dict[str, object] = (
        {"error": message}
        if is_v2(app_path(scope))
        else {"error": {"status": status, "code": code, "message": message}}
    )
    return JSONResponse(body, status_code=status, headers=headers)


def response_to(error: ServiceError, scope: Scope) -> JSONResponse:
    """``error`` as the answer to the request of ``scope``: for the middleware that refuse a
    request before any route, which no handler table answers for."""
    return error_response(error.status_code, error.code, error.message, error.headers, scope=scope)


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return response_to(exc, request.scope)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = "; ".join(
        f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg')}" for err in exc.errors()
    )
    return error_response(422, InvalidInput.code, details or "invalid request", scope=request.scope)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = exc.headers
    allowed = _allowed_methods(request) if exc.status_code == 405 else ""
    if allowed:  # none for a mount's path (the page's files), whose routes name no methods
        headers = {**(headers or {}), "Allow": allowed}
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), headers, scope=request.scope)


def _allowed_methods(request: Request) -> str:
    """Every method the request's path is served with. Starlette's own 405 names only those
    of the first route whose path matched, so a path that two routes serve (GET and POST of
    ``/v1/activations/{layer}.png``) would deny the other's."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):  # included routers' routes too
        if route.methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods
    if "GET" in methods:
        methods.add("HEAD")  # service.head answers it
    return ", ".join(sorted(methods))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    scope = request.scope
    logger.exception("unhandled error in %s %s", scope["method"], scope["path"], exc_info=exc)
    response = error_response(500, ServiceError.code, "internal server error", scope=scope)
    access_log.echo_request_id(scope, response)
    return response


CLIENT_CLOSED_REQUEST = 499
"""nginx's status for a request whose client went away before its body was in. No one
receives it; it is what the access log and the request metrics record, where a 500 would
count the client's hang-up as the server's failure (and page whoever watches 5xx)."""


async def _client_gone(request: Request, exc: Exception) -> Response:
    """The client closed its connection mid-body (Starlette's ``ClientDisconnect``): nothing
    to answer and nothing wrong here, so no traceback either."""
    logger.debug("%s %s: the client went away mid-body", request.method, request.url.path)
    return Response(status_code=CLIENT_CLOSED_REQUEST)


def register_error_handlers(app: FastAPI) -> None:
    """Install the handler table; call once from the app factory."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected_error)
