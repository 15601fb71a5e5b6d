"""Answered HTTP requests on their way to the request metrics and the access log.

The middleware appends each request it answered here, and ``flush`` hands them over in bulk
a tenth of a second later (or once ``MAX_WAITING`` wait): to ``metrics.observe_requests``,
grouped by series, so that each series is updated once, and to ``access_log.write``, which
completes and formats the lines and writes them as one log record. A request costs its
middleware a tuple and an append; all that can be done for many at once waits for the
flush, which runs it in one loop while its code and data stay in the CPU's caches. Done one
request at a time, the same work costs several times as much: between two requests the
model and the framework push it all out of the caches (``python -m bench.observability_cost``).

A scrape of ``/metrics`` flushes first, so in one process it sees every request answered
before it. With several worker processes another worker's requests reach the shared figures
within ``FLUSH_SECONDS``. The app flushes at shutdown.
"""

from __future__ import annotations

import asyncio
from threading import Lock

from service.errors import is_v2
from service.observability import access_log, metrics
from service.observability.access_log import AccessLine

FLUSH_SECONDS = 0.1
"""The longest an answered request waits to be counted and logged ..."""
MAX_WAITING = 512
"""... or the most that wait, whatever the time."""

Answered = tuple[str, str | None, int, float, AccessLine | None]
"""A request as it waits: its path; its route template, or None if it is not counted; its
status; its duration in seconds; its access log line, if it is logged."""

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
    latencies: dict[metrics.RequestKey, list[float]] = {}
    lines = []
    for path, route, status, seconds, line in taken:
        if route is not None:
            key = ("v2" if is_v2(path) else "v1", route, status)
            same = latencies.get(key)
            if same is None:
                latencies[key] = [seconds]
            else:
                same.append(seconds)
        if line is not None:
            lines.append((line, status, seconds))
    metrics.observe_requests(latencies)
    access_log.write(lines)
