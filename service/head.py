"""HEAD answered as GET is, without the content (RFC 9110: every general-purpose server
supports both). ``curl -I``, uptime checkers and some load balancers probe with HEAD, and
FastAPI's routes take only the methods they are declared with: a GET route answered HEAD
with 405.

The app runs a HEAD request as its GET, on a copy of the scope; the ASGI server still has
the original, and sends the answer's status and headers (its Content-Length as GET's)
without the body, as uvicorn does for any HEAD. HEAD is left out of the OpenAPI document,
as it usually is: declared on each route, it would double every GET operation there.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class HeadAsGet:
    """Pure ASGI middleware: a HEAD request reaches the app as a GET."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, send)
        finally:
            # The route the router chose, noted in the scope it was given: the request
            # metrics, outside, read it from theirs for the route's template.
            if "route" in as_get:
                scope["route"] = as_get["route"]
