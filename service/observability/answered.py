"""Answered HTTP requests on their way to the request metrics and the access log.

The middleware appends each request it answered here, and ``flush`` hands them over in bulk
a tenth of a second later (or once ``MAX_WAITING`` wait): to ``metrics.observe_requests``,
grouped by series, so that each series is updated once, and to ``access_log.write``, which
formats the lines and writes them as one log record. A request costs its middleware a tuple
and an append; all that can be done for many at once waits for the flush, which does it in
C where it can, and otherwise once a series, while its code and data stay in the CPU's
caches. Done one request at a time, the same work costs several times as much: between two
requests the model and the framework push it all out of the caches (``python -m
bench.observability_cost``). ``python -m bench.observability_instructions --python`` counts
the bytecodes that are left per request, by function.

A scrape of ``/metrics`` flushes first, so in one process it sees every request answered
before it. With several worker processes another worker's requests reach the shared figures
within ``FLUSH_SECONDS``. The app flushes at shutdown.
"""

from __future__ import annotations

import asyncio
from itertools import compress, groupby
from operator import itemgetter
from threading import Lock

from service.observability import access_log, metrics
from service.observability.access_log import AccessLine
from service.paths import is_v2

FLUSH_SECONDS = 0.1
"""The longest an answered request waits to be counted and logged ..."""
MAX_WAITING = 512
"""... or the most that wait, whatever the time."""

Answered = tuple[str, str | None, int, float, AccessLine | None]
"""A request as it waits: its path (``paths.app_path``); its route template, or None if it
is not counted; its status; its duration in seconds; its access log line, complete, if it is
logged."""

# Fields of an Answered: its route, its seconds, its line, and its series (route, status).
_ROUTE, _SECONDS, _LINE, _SERIES = itemgetter(1), itemgetter(3), itemgetter(4), itemgetter(1, 2)

_waiting: list[Answered] = []
_taking = Lock()  # flushes run on the event loop, or wherever /metrics renders


def record(answered: Answered) -> None:
    """Keep an answered request for the next flush (scheduled by the first that waits)."""
    _waiting.append(answered)
    waiting = len(_waiting)
    if waiting == 1:
        try:
            asyncio.get_running_loop().call_later(FLUSH_SECONDS, flush)
        except RuntimeError:  # no event loop in this thread: hand it over now
            flush()
    elif waiting >= MAX_WAITING:  # also if the loop that was to flush them has gone
        flush()


def flush() -> None:
    """Count and log the requests that wait."""
    with _taking:  # appends go on meanwhile; each request is taken by one flush
        taken = _waiting[:]
        del _waiting[: len(taken)]
    # Picked out, sorted and grouped in C (compress, filter, sort, groupby): what Python does
    # here itself is done once a series, not once a request, but for unmatched requests.
    # compress and filter keep what is truthy: a template is never "", a line never {}.
    metrics.observe_requests(_latencies(list(compress(taken, map(_ROUTE, taken)))))
    access_log.write(list(filter(None, map(_LINE, taken))))


def _latencies(counted: list[Answered]) -> dict[metrics.RequestKey, list[float]]:
    """The durations of ``counted`` requests by (protocol, route, status). A route's
    template begins with the prefix of the paths it answers (each router declares its own,
    ``/v1`` or ``/v2``, and none begins with a path parameter), so it tells their protocol;
    the unmatched requests' paths tell theirs one by one."""
    latencies: dict[metrics.RequestKey, list[float]] = {}
    counted.sort(key=_SERIES)
    for (route, status), same in groupby(counted, _SERIES):
        if route == metrics.UNMATCHED:
            for path, _, _, seconds, _ in same:
                latencies.setdefault((_protocol(path), route, status), []).append(seconds)
        else:
            latencies[_protocol(route), route, status] = list(map(_SECONDS, same))
    return latencies


def _protocol(path: str) -> str:
    return "v2" if is_v2(path) else "v1"
