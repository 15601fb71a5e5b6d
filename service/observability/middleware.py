"""One middleware that times every HTTP request, for the request metrics and the access log.

Pure ASGI, not Starlette's ``BaseHTTPMiddleware``, which runs the app in a task of its own
and passes every message through memory streams, a cost on each request. Here a request
costs a clock read, a wrapper around ``send`` that notes the status, and, after the answer,
an entry in ``observability.answered``, which counts (``LENET_METRICS``) and logs
(``LENET_ACCESS_LOG``) many requests at a time.

It wraps the whole app, ``BodySizeLimit`` included, so that a 413 refused before routing
is seen too. An exception that escapes the app is counted as the 500 that Starlette's
``ServerErrorMiddleware``, outside this one, then answers. A request is counted and logged
once its answer has been sent (its duration is all of it): a client may see the answer a
moment before the count moves.
"""

from __future__ import annotations

import logging
from time import perf_counter
from typing import Any

from starlette.routing import Match, Mount, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.observability import access_log, answered
from service.observability.metrics import UNMATCHED


class ObserveRequests:
    """Counts (``count``) and logs (``log``) each HTTP request; ``router`` is the app's."""

    def __init__(self, app: ASGIApp, *, router: Router, count: bool, log: bool) -> None:
        self.app = app
        self._router = router
        self._count = count
        self._log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500  # unless the app answers: ServerErrorMiddleware's answer to an exception
        facts = None
        if self._log:
            facts = access_log.RequestFacts(access_log.request_id(scope["headers"]))
        token = access_log.current.set(facts) if facts is not None else None

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if facts is not None:
                    header = (access_log.REQUEST_ID_HEADER, facts.request_id.encode("latin-1"))
                    message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            seconds = perf_counter() - started
            if token is not None:
                access_log.current.reset(token)
            # Its line is written later, but only if the log is on at INFO now, as it answers.
            if facts is not None and not access_log.logger.isEnabledFor(logging.INFO):
                facts = None
            if self._count or facts is not None:
                route = self._route_of(scope) if self._count else ""
                answered.record(
                    (self._count, scope["method"], scope["path"], route, status, seconds, facts)
                )

    def _route_of(self, scope: Scope) -> str:
        """The template of the route that answered (``/v1/activations/{layer}.png``)."""
        route = scope.get("route")  # FastAPI sets it for its own routes, as they are declared
        if route is not None:
            return _template(scope["path"], route)
        for candidate in self._router.routes:  # the docs' plain Starlette routes
            if isinstance(candidate, Route) and candidate.matches(scope)[0] is not Match.NONE:
                return candidate.path
            # The page's static files. Not by matches(): routing has moved the mount's
            # prefix from the scope's path into its root_path by now.
            if isinstance(candidate, Mount) and scope["path"].startswith(f"{candidate.path}/"):
                return f"{candidate.path}/{{path}}"
        return UNMATCHED


def _template(path: str, route: Any) -> str:
    """``route.path`` with the prefix the request reached it under: FastAPI reports a route
    as its own router declares it, without the prefixes of ``include_router``."""
    declared: str = route.path
    if path.endswith(declared):  # no path parameters: the path is the template
        return path
    for start, char in enumerate(path):
        if char == "/" and route.path_regex.match(path[start:]):
            return path[:start] + declared
    return declared
