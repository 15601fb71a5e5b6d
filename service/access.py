"""Access control over HTTP, off by default: API keys (``LENET_API_KEYS_FILE``, checked by
``service.keys``) and CORS (``LENET_CORS_ORIGINS``). With neither set, ``install`` adds
nothing: a request meets none of it.

With keys, every path needs ``Authorization: Bearer <key>`` but those that must stay open:
the page and its files, the docs, the health probes (``/healthz``, ``/readyz``,
``/v2/health/*``) and ``/metrics`` (unless ``LENET_METRICS_REQUIRE_KEY``). A route added
later is closed until it is named here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypedDict

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service import web
from service.api import openapi
from service.errors import BadRequest, ServiceError, error_response, response_to
from service.keys import KeyFile, bearer
from service.paths import LIVENESS, app_path
from service.settings import Settings
from service.web import api_docs

REALM = 'Bearer realm="lenet-serve"'
_PROBES = LIVENESS | {"/readyz", "/v2/health/ready"}

CORS_METHODS = ("GET", "HEAD", "POST", "OPTIONS")
CORS_REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    "X-Request-ID",
    "Inference-Header-Content-Length",
)
CORS_EXPOSED_HEADERS = ("X-Request-ID", "Retry-After", "Inference-Header-Content-Length")


class Unauthorized(ServiceError):
    """No API key, or one that is not in ``LENET_API_KEYS_FILE``."""

    status_code = 401
    code = "unauthorized"


MISSING = Unauthorized(
    "this route needs an API key: send it as Authorization: Bearer <key>",
    headers={"WWW-Authenticate": REALM},
)
INVALID = Unauthorized(
    "the API key is not valid", headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'}
)
SEVERAL = BadRequest(
    "send one Authorization header, not several",
    headers={"WWW-Authenticate": f'{REALM}, error="invalid_request"'},
)
"""RFC 6750's answer to credentials sent twice. Taking the first or the last would have a
proxy that adds its own header and the app disagree on which one was checked."""


def open_paths(app: FastAPI, settings: Settings) -> Callable[[str], bool]:
    """Whether a path is served without a key: the page, the docs, the probes, and
    ``/metrics`` unless ``LENET_METRICS_REQUIRE_KEY``."""
    exact = {"/", *_PROBES, *api_docs.PAGES, *([app.openapi_url] if app.openapi_url else [])}
    if not settings.metrics_require_key:
        exact.add("/metrics")
    paths = frozenset(exact)
    files = (f"{web.FILES}/", f"{api_docs.FILES}/")

    def is_open(path: str) -> bool:
        return path in paths or path.startswith(files)

    return is_open


class RequireApiKey:
    """Pure ASGI middleware: a request to a closed path without a valid key is answered 401
    in the one error shape, before any of its body is read."""

    def __init__(self, app: ASGIApp, *, keys: KeyFile, is_open: Callable[[str], bool]) -> None:
        self.app = app
        self._keys = keys
        self._is_open = is_open

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_open(app_path(scope)):
            await self.app(scope, receive, send)
            return
        given = [value for name, value in scope["headers"] if name == b"authorization"]
        token = bearer(given[0]) if len(given) == 1 else None
        if token is not None and self._keys.allows(token):
            await self.app(scope, receive, send)
            return
        refusal = SEVERAL if len(given) > 1 else MISSING if token is None else INVALID
        await response_to(refusal, scope)(scope, receive, send)


class Cors(CORSMiddleware):
    """Starlette's CORS middleware, whose refused preflight answers in the one error shape
    rather than in plain text."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            if "origin" in headers and "access-control-request-method" in headers:
                response = self.preflight_response(request_headers=headers)
                if response.status_code != 200:
                    response = _refused(response, scope)
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _refused(response: Response, scope: Scope) -> Response:
    """Starlette's refusal ("Disallowed CORS origin, headers") with its headers, as ours."""
    kept = {
        name: value
        for name, value in response.headers.items()
        if name not in ("content-length", "content-type")
    }
    message = bytes(response.body).decode()
    return error_response(response.status_code, BadRequest.code, message, kept, scope=scope)


def install(app: FastAPI, settings: Settings) -> None:
    """Add what the settings ask for, outside the body limits (a request without a key has
    none of its body read) and inside the metrics (401s are counted); CORS outside the
    keys, so that a preflight, which carries none, is answered. Call it after
    ``openapi.install``: the document then declares the key."""
    if settings.api_keys_file is not None:
        is_open = open_paths(app, settings)
        keys = KeyFile(settings.api_keys_file)
        app.add_middleware(RequireApiKey, keys=keys, is_open=is_open)
        openapi.require_bearer(app, is_open)
    if settings.cors_origins:
        app.add_middleware(Cors, **_cors_options(settings.cors_origins))


class _CorsOptions(TypedDict):
    allow_origins: Sequence[str]
    allow_methods: Sequence[str]
    allow_headers: Sequence[str]
    expose_headers: Sequence[str]


def _cors_options(origins: Sequence[str]) -> _CorsOptions:
    return {
        "allow_origins": origins,
        "allow_methods": CORS_METHODS,
        "allow_headers": CORS_REQUEST_HEADERS,
        "expose_headers": CORS_EXPOSED_HEADERS,
    }


def with_cors(app: ASGIApp, origins: Sequence[str]) -> ASGIApp:
    """``app`` with the CORS headers the app's own answers carry for ``origins``; ``app``
    itself where there are none. For the answers given outside the app (``connections``):
    without them, a page on another origin is told of a network error, not of a 503 and
    its Retry-After."""
    return Cors(app, **_cors_options(origins)) if origins else app
