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
from collections.abc import Iterator
from select import PIPE_BUF
from typing import TypedDict

import orjson
from starlette.responses import Response
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


MAX_PATH = 500
"""Characters of a path kept in its line; a longer one ends in "…". With ``MAX_METHOD`` and
the request id's 128 bytes, a line then stays under ``PIPE_BUF`` even were every character
of all three escaped (\\u0001: six bytes): see ``write``."""
MAX_METHOD = 20
"""Characters of a method kept in its line."""


def start(method: str, path: str, request_id: str) -> AccessLine:
    """A request's line as the middleware starts it: a 500 until the middleware writes the
    status the request got, and nothing run until the route notes it."""
    if len(path) > MAX_PATH:  # a client chooses it
        path = path[: MAX_PATH - 1] + "…"
    return {
        "method": method[:MAX_METHOD],  # any token, served by uvicorn's h11 (httptools: known)
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
    """Write these complete lines, as few records as can each be written whole, if
    ``service.access`` is on at INFO (it follows ``LENET_LOG_LEVEL``) as they are written: a
    level set since they were answered applies to them too.

    One orjson call for all of them, as an array cut into lines: a call per line allocated
    a bytes object of its own outside Python's small-object allocator, and those came back
    as page faults on every flush. A record of at most ``PIPE_BUF`` bytes with its newline
    (the handler flushes each; stderr is line-buffered) is one write, which a pipe takes
    whole: several worker processes share the pipe to a container's log, and a larger
    record's writes were cut into by another's, mid-line."""
    if not lines or not logger.isEnabledFor(logging.INFO):
        return
    array = orjson.dumps(lines)
    text = array[1:-1].replace(b"}," + LINE_START, b"}\n" + LINE_START)
    for record in _whole_lines(text, PIPE_BUF - 1):
        logger.info(record.decode())


def _whole_lines(text: bytes, most: int) -> Iterator[bytes]:
    """``text``'s lines, joined into runs of at most ``most`` bytes (without their last
    newline); a line longer than that alone."""
    start = 0
    while len(text) - start > most:
        cut = text.rfind(b"\n", start, start + most + 1)
        if cut < 0:  # one line longer than ``most``
            cut = text.find(b"\n", start)
            if cut < 0:
                break
        yield text[start:cut]
        start = cut + 1
    yield text[start:]


def echo_request_id(scope: Scope, response: Response) -> None:
    """Give ``response`` the request's X-Request-ID where it has one, for the answers made
    outside the middleware that gives it to the rest: the 500 of an exception that escaped
    the app (which Starlette's outermost middleware sends), the 503 of a request cut short
    by the shutdown limit. Its line holds the id as the middleware decoded it (latin-1:
    the header's own bytes again)."""
    line: AccessLine | None = scope.get(SCOPE_KEY)
    if line is not None:
        response.raw_headers.append((b"x-request-id", line["request_id"].encode("latin-1")))
