"""The page at ``/``: draw a digit and watch the network read it, through the public API only.

Plain HTML, CSS and JavaScript modules from this folder, no build step and nothing from
another origin, so it works offline. ``page.html`` is the page; ``static/`` holds what it
loads.

Caching. The page itself is answered with ``Cache-Control: no-cache`` and an ETag: a
browser asks every time and, while nothing changed, gets a 304 of a few bytes. What it
loads is served under ``/page/<digest>/``, the digest of every file in ``static/`` taken at
start-up, and cached for a year as immutable: a release that changes any file changes every
URL, so a browser never runs old modules with new ones, and one that holds the page asks
for nothing else. The page's Content-Security-Policy allows this origin only, so that a
link to a CDN fails in the browser tests, not on a machine that is offline.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from fastapi import FastAPI, Request, Response
from starlette.routing import Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HERE = Path(__file__).parent
STATIC = HERE / "static"
ASSETS = "__assets__"
"""Where ``page.html`` names the static folder; replaced by ``page/<digest>``, relative as
every URL the page and its modules use: served under a prefix (``--root-path``), the
browser finds them under it."""
FILES = "/page"
"""Under which the page's files are served (``/page/<digest>/``): open without an API key."""

# data: for page.html's empty icon, which spares a request for /favicon.ico and its 404.
POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
NOSNIFF = {"x-content-type-options": "nosniff"}


class ImmutableFiles(StaticFiles):
    """Static files whose URL changes whenever their content does: cacheable for a year.

    A Range header is ignored, every answer the whole file with a 200, as for the model's
    ``curves.png``: the files are a few kilobytes, and Starlette answers a Range it cannot
    serve in plain text (400, 416), outside the service's error shape."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(name, value) for name, value in scope["headers"] if name != b"range"]
        await super().__call__({**scope, "headers": headers}, receive, send)

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["cache-control"] = "public, max-age=31536000, immutable"
        del response.headers["accept-ranges"]  # none served
        response.headers.update(NOSNIFF)
        return response


def nosniff(app: ASGIApp) -> ASGIApp:
    """``app`` with ``X-Content-Type-Options: nosniff`` added to its response."""
    header = [(name.encode(), value.encode()) for name, value in NOSNIFF.items()]

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *header]
            await send(message)

        await app(scope, receive, send_with_header)

    return wrapped


def digest(folder: Path) -> str:
    """A short SHA-256 of every file's name and bytes under ``folder``."""
    sha = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        sha.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()[:12]


def install(app: FastAPI) -> None:
    """``GET /`` (the page) and ``/page/<digest>/`` (what it loads); neither in the OpenAPI
    document, which describes the API. FastAPI's route to that document gets the nosniff
    header (the docs pages, ``api_docs``, have their own)."""
    for route in app.router.routes:
        if isinstance(route, Route) and route.path == app.openapi_url:
            route.app = nosniff(route.app)
    prefix = f"{FILES}/{digest(STATIC)}"
    page = (HERE / "page.html").read_text().replace(ASSETS, prefix.removeprefix("/")).encode()
    etag = f'"{hashlib.sha256(page).hexdigest()[:16]}"'
    headers = {
        "cache-control": "no-cache",
        "etag": etag,
        "content-security-policy": POLICY,
        **NOSNIFF,
    }

    async def get_page(request: Request) -> Response:
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(page, media_type="text/html; charset=utf-8", headers=headers)

    app.add_api_route("/", get_page, methods=["GET", "HEAD"], include_in_schema=False)
    app.mount(prefix, ImmutableFiles(directory=STATIC), name="page")
