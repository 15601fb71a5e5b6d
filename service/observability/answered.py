"""Answered HTTP requests on their way to the request metrics and the access log.

The middleware appends each request it answered here, and ``flush`` hands them over in bulk
a tenth of a second later (or once ``MAX_WAITING`` wait): to ``metrics.observe_requests``,
which then updates each series once, and to ``access_log.write``, which formats the lines and
writes them as one log record. Recorded one by one, a request's count, latency and log line
cost several function calls, a lock and a log record each, a measurable share of a 28×28
request (``make bench``: ``ours-onnx`` ÷ ``ours-onnx-quiet``).

A scrape of ``/metrics`` flushes first, so in one process it sees every request answered
before it. With several worker processes another worker's requests reach the shared figures
within ``FLUSH_SECONDS``. The app flushes at shutdown.
"""

from __future__ import annotations

import asyncio
from threading import Lock

from service.errors import is_v2
from service.observability import access_log, metrics
from service.observability.access_log import RequestFacts

FLUSH_SECONDS = 0.1
"""The longest an answered request waits to be counted and logged ..."""
MAX_WAITING = 512
"""... or the most that wait, whatever the time."""

Answered = tuple[bool, str, str, str, int, float, RequestFacts | None]
"""Whether it is counted; its method, path, route template and status; its duration in
seconds; its facts if it is logged."""

_waiting: list[Answered] = []
_taking = Lock()  # flushes run on the event loop, or wherever /metrics renders


def record(answered: Answered) -> None:
    """Keep an answered request for the next flush (scheduled by the first that waits)."""
    _waiting.append(answered)
    if len(_waiting) == 1:
        try:
            asyncio.get_running_loop().call_later(FLUSH_SECONDS, flush)
        except RuntimeError:  # no event loop in this thread: hand it over now
            flush()
    elif len(_waiting) >= MAX_WAITING:  # also if the loop that was to flush them has gone
        flush()


def flush() -> None:
    """Count and log the requests that wait."""
    with _taking:  # appends go on meanwhile; each request is taken by one flush
        taken = _waiting[:]
        del _waiting[: len(taken)]
    metrics.observe_requests(
        (("v2" if is_v2(path) else "v1", route, status), seconds)
        for counted, _, path, route, status, seconds, _ in taken
        if counted
    )
    access_log.write(
        [
            (method, path, status, seconds, facts)
            for _, method, path, _, status, seconds, facts in taken
            if facts is not None
        ]
    )
