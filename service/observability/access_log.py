"""The JSON access log: one line per request on the ``service.access`` logger, e.g.

    {"method":"POST","path":"/v1/predict","status":200,"duration_ms":0.412,"batch_size":1,
     "backend":"onnx","version":"1","request_id":"4bf92f3577b34da6a3ce929d0e0e4736"}

(on one line). ``batch_size``, ``backend`` and ``version`` are known only inside a route,
which passes them on with ``note``; they are null for requests that ran no model (a probe,
a 404, a body that could not be read). The request id is the client's ``X-Request-ID``, or
32 fresh random hex digits when it sent none; the middleware returns it in the answer's
``X-Request-ID``.

The facts travel in a context variable that holds a mutable record, not the values: work
in another task or thread sees a copy of the context, but one that points at the same record.

Lines are written a tenth of a second at a time, all of them in one log record: a record of
its own per request (``logging``'s record, caller lookup, lock, write and flush) is the
costly part of a line; gathered, a line costs one ``orjson.dumps`` and an append (what the
log and the metrics cost a request: ``make bench``, ``ours-onnx`` ÷ ``ours-onnx-quiet``).
``flush`` writes what waits (the app calls it at shutdown).
"""

from __future__ import annotations

import asyncio
import logging
import os
from contextvars import ContextVar
from dataclasses import dataclass

import orjson

logger = logging.getLogger("service.access")

REQUEST_ID_HEADER = b"x-request-id"
MAX_REQUEST_ID = 128
"""A longer X-Request-ID is replaced with a fresh one: it would be copied into every line."""
FLUSH_SECONDS = 0.1
"""The longest a line waits for the others it is written with ..."""
MAX_WAITING = 512
"""... or the most lines that wait, whatever the time."""

_waiting: list[bytes] = []


@dataclass(slots=True)
class RequestFacts:
    """A request's id, and what its route noted about it."""

    request_id: str
    batch_size: int | None = None
    backend: str | None = None
    version: str | None = None


current: ContextVar[RequestFacts | None] = ContextVar("lenet_request_facts", default=None)
"""The facts of the request being answered; None where nothing will log them."""


def note(*, batch_size: int, backend: str, version: int | str) -> None:
    """Record what the request runs — its images, on which backend and model version — for
    its access log line; does nothing when the access log is off."""
    facts = current.get()
    if facts is not None:
        facts.batch_size = batch_size
        facts.backend = backend
        facts.version = str(version)


def request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The request's ``X-Request-ID`` (ASGI headers: names lower-case), or 32 new random
    hex digits."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER and 0 < len(value) <= MAX_REQUEST_ID:
            return value.decode("latin-1")
    return os.urandom(16).hex()  # a uuid4's randomness, a fifth of its cost


def log_request(method: str, path: str, status: int, seconds: float, facts: RequestFacts) -> None:
    """Write the request's line, if ``service.access`` is on at INFO (it follows
    ``LENET_LOG_LEVEL``): at ``warning`` a request builds no line at all."""
    if not logger.isEnabledFor(logging.INFO):
        return
    line = {
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "batch_size": facts.batch_size,
        "backend": facts.backend,
        "version": facts.version,
        "request_id": facts.request_id,
    }
    _waiting.append(orjson.dumps(line))
    if len(_waiting) == 1:  # the first of a batch: it goes out within FLUSH_SECONDS
        try:
            asyncio.get_running_loop().call_later(FLUSH_SECONDS, flush)
        except RuntimeError:  # no event loop in this thread: write it now
            flush()
    elif len(_waiting) >= MAX_WAITING:  # also if the loop that was to flush it has gone
        flush()


def flush() -> None:
    """Write the lines that wait, as one record of one line each."""
    if _waiting:
        lines = b"\n".join(_waiting).decode()
        _waiting.clear()
        logger.info(lines)
