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

The middleware records each request (``observability.answered``), which hands the lines
here a tenth of a second at a time: they are formatted together and written as one log
record, since a record of its own per request (``logging``'s record, caller lookup, lock,
write and flush) would be the costly part of a line.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass
from random import getrandbits

import orjson

logger = logging.getLogger("service.access")

REQUEST_ID_HEADER = b"x-request-id"
MAX_REQUEST_ID = 128
"""A longer X-Request-ID is replaced with a fresh one: it would be copied into every line."""


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
    hex digits: an id to find a request by, not a secret, so from ``random``'s generator
    (seeded from the OS in each process), without ``os.urandom``'s system call."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER and 0 < len(value) <= MAX_REQUEST_ID:
            return value.decode("latin-1")
    return getrandbits(128).to_bytes(16, "little").hex()


Line = tuple[str, str, int, float, RequestFacts]
"""A request's method, path, status, duration in seconds and facts."""


def write(lines: list[Line]) -> None:
    """Write these requests' lines as one record, if ``service.access`` is on at INFO (it
    follows ``LENET_LOG_LEVEL``; the middleware hands over no line at ``warning``)."""
    if lines and logger.isEnabledFor(logging.INFO):
        formatted = [
            orjson.dumps(
                {
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": round(seconds * 1e6) / 1000,  # to the µs, as round(x, 3) would
                    "batch_size": facts.batch_size,
                    "backend": facts.backend,
                    "version": facts.version,
                    "request_id": facts.request_id,
                }
            )
            for method, path, status, seconds, facts in lines
        ]
        logger.info(b"\n".join(formatted).decode())
