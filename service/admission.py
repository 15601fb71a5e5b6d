"""Admission: refuse a batched inference request before its body is read while the queue it
would join is full.

``MicroBatcher.predict`` refuses work past its queue bound, but only once the route has read
and parsed the body: under overload, a 64-digit ``/v2`` request of ~200 KB cost ~0.5 ms of
event-loop time to refuse against ~2.1 ms to answer, and at 3.5× capacity the refusals
crowded out the answers (12 % of capacity answered). Here the request's head alone picks
the batcher, as the route will, and a full queue answers 503 with ``Retry-After`` without a
``receive()``. With room, the check is a path comparison, a dictionary lookup or two and the
batcher's own bound, about a microsecond; requests admitted here may still find the queue
full when they get to it, and are refused there as before.

The connection stays open: uvicorn's httptools protocol reads the rest of the body off it
and drops each chunk as it comes (once the answer is complete, its ``on_body`` returns at
once; only what arrived before the answer is held, until the next request), and the client's
next request follows on it. With ``Connection: close`` instead, in trials, each refused
client had to connect again: refusals took the server more time and the clients far longer.

Which batcher: ``/v1`` names the backend and version in the query string (else the
defaults). ``/v2`` names the version in its path, but the backend only inside the body
(``parameters.backend``, lenet-serve's own, which protocol clients do not send), so a
``/v2`` request is checked against the default backend's queue: that is where a request
naming none goes. One that names another backend, or asks only for boxes or layers (no
queue), is refused too while that queue is full; the backends share the same cores, so it
would mostly be waiting on them anyway. Anything the route would refuse for another reason
(an unknown version, model or backend) passes, to get its own 4xx there.
"""

from __future__ import annotations

import functools
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import Overloaded, ServiceError, response_to
from service.paths import app_path
from service.runtime.batching import MicroBatcher
from service.runtime.repository import ModelRepository

BATCHED_V1 = frozenset({"/v1/predict", "/v1/read", "/v1/explain"})
"""The ``/v1`` routes whose images go through a backend's batcher (``/v1/activations`` does
not: it calls the backend directly)."""
V2_MODELS, V2_INFER = "/v2/models/", "/infer"


class Admission:
    """Pure ASGI middleware: 503 in the service's error shape, before the body is read, to a
    batched inference request whose batcher has no room for one more image."""

    def __init__(self, app: ASGIApp, repository: ModelRepository) -> None:
        self.app = app
        self.repository = repository

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            batcher = self.batcher_for(app_path(scope), scope["query_string"])
            if batcher is not None:
                try:
                    batcher.admit()
                except Overloaded as refused:
                    await response_to(refused, scope)(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def batcher_for(self, path: str, query_string: bytes) -> MicroBatcher | None:
        """The batcher the route at ``path`` will queue the request's images on, or None
        where it queues none or will refuse the request for another reason."""
        name = backend = version = None
        if path in BATCHED_V1:
            if query_string:
                backend, version = _options(query_string)
        elif path.startswith(V2_MODELS) and path.endswith(V2_INFER):
            # /v2/models/{name}/infer or /v2/models/{name}/versions/{version}/infer
            parts = path[len(V2_MODELS) : -len(V2_INFER)].split("/")
            if len(parts) == 3 and parts[1] == "versions":
                version = parts[2]
            elif len(parts) != 1:
                return None
            name = parts[0]
        else:
            return None
        try:
            model = self.repository.get(version)
        except ServiceError:  # not loaded yet, or no such version: the route says so
            return None
        if name is not None and name != model.name:
            return None
        runner = model.runners.get(model.default_backend if backend is None else backend)
        return None if runner is None else runner.batcher


@functools.lru_cache(maxsize=256)
def _options(query_string: bytes) -> tuple[str | None, str | None]:
    """``?backend=`` and ``?version=``, as the route reads them (the last of each). Cached:
    a client sends the same query string again and again, and parsing it costs several
    times the rest of the check."""
    options = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
    return options.get("backend"), options.get("version")
