"""One middleware that times every HTTP request, for the request metrics and the access log.

Pure ASGI, not Starlette's ``BaseHTTPMiddleware``, which runs the app in a task of its own
and passes every message through memory streams, a cost on each request. Here a request
costs two clock reads, a wrapper around ``send`` that notes the status, and, after the
answer, one tuple in ``observability.answered``, which counts (``LENET_METRICS``) and logs
(``LENET_ACCESS_LOG``) many requests at a time. With the log on, it also takes the client's
``X-Request-ID`` (or makes one), returns it in the answer's, starts the request's access
line in its scope, where the route notes what it ran (``access_log.note``), and completes it
with the status and the duration.

What runs here on every request is kept to those few steps in one function, and all else
is left to the flush: between two requests the model and the framework push this code and
its data out of the CPU's caches, so each further call, module or object it touched cost a
request far more than it does when timed alone (``python -m bench.observability_cost``).
``python -m bench.observability_instructions`` counts what it adds in machine instructions,
and with ``--python`` in bytecodes, by function.

It wraps the whole app, ``RequestSizeLimits`` included, so that a 413 refused before routing
is seen too. An exception that escapes the app is counted as the 500 that Starlette's
``ServerErrorMiddleware``, outside this one, then answers; one cancelled (at the shutdown
limit) before its answer began, as the 503 that ``connections.answer_if_cut_short``, where
``python -m service`` runs it, answers: that marks the scope (``CUT_SHORT_CYCLE``) so that
the two agree on whether the answer had begun, and elsewhere, as under ``uvicorn
service.app:app``, uvicorn's own 500 follows. A request is counted and logged
once its answer has been sent (its duration is all of it): a client may see the answer a
moment before the count moves.
"""

from __future__ import annotations

import re
from asyncio import CancelledError
from collections.abc import Awaitable
from random import getrandbits
from time import perf_counter
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.routing import Mount, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.observability import access_log, answered
from service.observability.access_log import SCOPE_KEY, AccessLine
from service.observability.metrics import UNMATCHED
from service.paths import app_path

CUT_SHORT_CYCLE = "lenet.cut_short_cycle"
"""Scope key: uvicorn's request cycle, set where a cancelled request is answered 503 unless
its answer has begun (``cycle.response_started``)."""
REQUEST_ID_HEADER = b"x-request-id"
MAX_REQUEST_ID = 128
"""A longer X-Request-ID is replaced with a fresh one: it would be copied into every line.
So is one that is not ASCII: header bytes have no one encoding (UTF-8's "é" would be logged
as latin-1's "Ã©"), and an id is for finding its request by, in logs that are searched as
text."""


class ObserveRequests:
    """Counts (``count``) and logs (``log``) each HTTP request; ``router`` is the app's."""

    def __init__(self, app: ASGIApp, *, router: Router, count: bool, log: bool) -> None:
        self.app = app
        self._router = router
        self._templates: list[tuple[re.Pattern[str], str]] | None = None  # once it serves
        self._count = count
        self._log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500  # unless the app answers: ServerErrorMiddleware's answer to an exception
        line: AccessLine | None = None
        if self._log:
            # The client's id, or 32 random hex digits: an id to find a request by, not a
            # secret, so from random's generator (seeded from the OS in each process). This
            # loop takes less time than a dict of the headers, and to_bytes().hex() less
            # than an f-string's "032x", for all their fewer bytecodes.
            for name, returned in scope["headers"]:  # ASGI: names in lower case
                if (
                    name == REQUEST_ID_HEADER
                    and 0 < len(returned) <= MAX_REQUEST_ID
                    and returned.isascii()
                ):
                    request_id = returned.decode("latin-1")
                    break
            else:
                request_id = getrandbits(128).to_bytes(16, "little").hex()
                returned = request_id.encode()
            header = (REQUEST_ID_HEADER, returned)
            line = scope[SCOPE_KEY] = access_log.start(scope["method"], scope["path"], request_id)

        def observed_send(message: Message) -> Awaitable[None]:
            """``send`` that notes the status: not a coroutine itself, which would cost a
            frame for each message; it hands back ``send``'s own awaitable."""
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if line is not None:
                    message["headers"] = [*message.get("headers", ()), header]
            return send(message)

        try:
            await self.app(scope, receive, observed_send)
        except CancelledError:
            cycle = scope.get(CUT_SHORT_CYCLE)
            if cycle is not None and not cycle.response_started:
                status = 503  # what connections.answer_if_cut_short answers next
            raise
        finally:
            seconds = perf_counter() - started
            if line is not None:
                # The line complete here, not in the flush: a loop there to do the same
                # would cost more than these two stores.
                line["status"] = status
                line["duration_ms"] = round(seconds * 1e6) / 1000  # to the µs, as round(x, 3)
            template, path = None, ""  # the path is only for what is counted
            if self._count:
                template = path = app_path(scope)  # under a --root-path, without it
                route = scope.get("route")  # FastAPI's, as its router declares it
                # Most routes have no path parameters: their template is the path itself.
                if route is None or not path.endswith(route.path):
                    template = self._route_of(path, route)
            answered.record((path, template, status, seconds, line))

    def _route_of(self, path: str, route: Any) -> str:
        """The template of the route that answered ``path`` (the ``app_path``), such as
        ``/v1/activations/{layer}.png``: ``route`` is FastAPI's (the scope's), for its own
        routes, as they are declared."""
        if route is not None:
            return _template(path, route)
        # Plain Starlette routes (/openapi.json), and any route for a request refused before
        # routing (a 413 by its Content-Length, a 401), whatever its method.
        if self._templates is None:
            self._templates = _templates(self._router)
        for pattern, template in self._templates:
            if pattern.match(path):
                return template
        return UNMATCHED


def _templates(router: Router) -> list[tuple[re.Pattern[str], str]]:
    """Every route's pattern on the app's paths, and its template: included routers' routes
    too, which FastAPI keeps apart from the app's own, with their prefixes. A mount's (the
    page's and the docs' files) matches its files, whose template is ``{mount}/{path}``.
    Matched here rather than by each route's ``matches``, which cost each 404 many times
    as much."""
    templates = []
    for route in iter_route_contexts(router.routes):
        mounted = isinstance(route.route, Mount)
        path = str(route.path)
        templates.append((route.path_regex, f"{path}/{{path}}" if mounted else path))
    return templates


def _template(path: str, route: Any) -> str:
    """``route.path`` with the prefix the request reached it under: FastAPI reports a route
    as its own router declares it, without the prefixes of ``include_router``. (A path that
    ends with it has no parameters: ``__call__`` takes that as its own template first.)"""
    declared: str = route.path
    for start, char in enumerate(path):
        if char == "/" and route.path_regex.match(path[start:]):
            return path[:start] + declared
    return declared
