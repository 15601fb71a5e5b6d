"""The API's interactive docs, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served whole
from this process.

FastAPI's own pages load Swagger UI and ReDoc from a CDN: offline, or where a firewall keeps
servers off the internet, they were blank, and the page's "API docs" link led there.
``fastapi_offline`` ships both, built; their files are served here under the digest of their
bytes and cached as the page's are, and FastAPI's own functions write the pages around them.
(ReDoc still asks its CDN for its attribution logo, which it leaves out when that fails.)
Every URL in a page starts with the prefix the service is served under (``--root-path``), as
FastAPI's own pages do.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

from service.web import NOSNIFF, ImmutableFiles, digest

SWAGGER_UI = "/docs"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
REDOC = "/redoc"
PAGES = frozenset({SWAGGER_UI, OAUTH2_REDIRECT, REDOC})
FILES = "/docs-files"
"""Under which the pages' scripts and styles are served (``/docs-files/<digest>/``)."""
BUILT = Path(fastapi_offline.__file__).parent / "static"


def install(app: FastAPI) -> None:
    """The pages and their files, none in the OpenAPI document, on an app made without
    FastAPI's own (``docs_url=None, redoc_url=None``)."""
    assert app.openapi_url is not None
    openapi = app.openapi_url
    files = f"{FILES}/{digest(BUILT)}"

    def page(html: HTMLResponse) -> HTMLResponse:
        html.headers.update(NOSNIFF)
        return html

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return page(
            get_swagger_ui_html(
                openapi_url=f"{root}{openapi}",
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT}",
                swagger_js_url=f"{root}{files}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{files}/swagger-ui.css",
                swagger_favicon_url=f"{root}{files}/favicon.png",
            )
        )

    async def oauth2_redirect(request: Request) -> HTMLResponse:
        return page(get_swagger_ui_oauth2_redirect_html())

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return page(
            get_redoc_html(
                openapi_url=f"{root}{openapi}",
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{files}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{files}/favicon.png",
                with_google_fonts=False,
            )
        )

    for path, endpoint in (
        (SWAGGER_UI, swagger_ui),
        (OAUTH2_REDIRECT, oauth2_redirect),
        (REDOC, redoc),
    ):
        app.add_api_route(path, endpoint, methods=["GET"], include_in_schema=False)
    app.mount(files, ImmutableFiles(directory=BUILT), name="docs-files")
