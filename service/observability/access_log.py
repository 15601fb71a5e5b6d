"""The JSON access log: one line per request on the ``service.access`` logger, e.g.

    {"method":"POST","path":"/v1/predict","status":200,"duration_ms":0.412,"batch_size":1,
     "backend":"onnx","version":"1","request_id":"4bf92f3577b34da6a3ce929d0e0e4736"}

(on one line). ``batch_size``, ``backend`` and ``version`` are known only inside a route,
which passes them on with ``note``; they are null for requests that ran no model (a probe,
a 404, a body that could not be read). The request id is the client's ``X-Request-ID``, or
32 fresh random hex digits when it sent none, as the middleware (``observability.middleware``)
takes or makes it and returns it in the answer's ``X-Request-ID``.

The line itself travels in the request's ASGI scope (``SCOPE_KEY``), from the middleware
that starts it to the route that notes what it ran: Starlette's routing and FastAPI's
``Request`` keep the dict the middleware was given, and a key in it costs a request less
than a context variable set and reset around it.

The middleware completes each line with the request's status and duration once it has been
answered, and records it (``observability.answered``), which hands the lines here a tenth of
a second at a time: they are formatted and written as one log record together, since a
record of its own per request (``logging``'s record, caller lookup, lock, write and flush)
would be the costly part of a line.
"""

from __future__ import annotations

import logging
from typing import TypedDict

import orjson
from starlette.types import Scope

logger = logging.getLogger("service.access")


class AccessLine(TypedDict):
    """One request's line, its fields in the order written: a plain dict, which orjson
    writes several times faster than a dataclass with slots. The middleware starts it, the
    route notes what it ran (``note``), and the middleware adds the status and the duration."""

    method: str
    path: str
    status: int
    duration_ms: float
    batch_size: int | None
    backend: str | None
    version: str | None
    request_id: str


def start(method: str, path: str, request_id: str) -> AccessLine:
    """A request's line as the middleware starts it: a 500 until the middleware writes the
    status the request got, and nothing run until the route notes it."""
    return {
        "method": method,
        "path": path,
        "status": 500,
        "duration_ms": 0.0,
        "batch_size": None,
        "backend": None,
        "version": None,
        "request_id": request_id,
    }


SCOPE_KEY = "lenet.access_line"
"""Scope key: the request's line, absent where nothing will log it."""


def note(scope: Scope, *, batch_size: int, backend: str, version: int | str) -> None:
    """Record what the request (its ASGI ``scope``) runs — its images, on which backend and
    model version — for its access log line; does nothing when the access log is off."""
    line: AccessLine | None = scope.get(SCOPE_KEY)
    if line is not None:
        line["batch_size"] = batch_size
        line["backend"] = backend
        line["version"] = str(version)


LINE_START = b'{"method":'
"""How every line begins. Its quote is never unescaped inside a JSON string, so between
two lines of a JSON array it is where one ends and the next begins."""


def write(lines: list[AccessLine]) -> None:
    """Write these complete lines as one record if ``service.access`` is on at INFO (it
    follows ``LENET_LOG_LEVEL``) as they are written: a level set since they were answered
    applies to them too.

    One orjson call for all of them, as an array cut into lines: a call per line allocated
    a bytes object of its own outside Python's small-object allocator, and those came back
    as page faults on every flush."""
    if not lines or not logger.isEnabledFor(logging.INFO):
        return
    array = orjson.dumps(lines)
    logger.info(array[1:-1].replace(b"}," + LINE_START, b"}\n" + LINE_START).decode())
