"""Cells measured in rounds: every (server, body, connections) cell is loaded several times,
its share of the cell's time each time, the order of bodies and servers reversed in every
other round.

On a shared machine the background load drifts by more within a minute than the differences
the tightest targets ask about (metrics' cost: 3 %). Two runs back to back, A then B, give B
whatever the drift was; A B | B A gives both the same, if the drift is even roughly linear.
A cell's figures are then its rounds' together (requests over seconds), and a ratio between
two cells keeps each round's own ratio beside it (of req/s, or of p99, which each round keeps
too), so the report shows how far the rounds agreed.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any, TypeVar

T = TypeVar("T")

CELL = ("server", "body", "connections")
PER_REQUEST = {
    "mean_ms": 3,
    "server_cpu_ms_per_request": 3,
    "server_context_switches_per_request": 1,
    "client_cpu_ms_per_request": 3,
}
"""Averaged over the rounds weighted by their requests, to as many decimals as one run's."""
PER_SECOND = {"server_cpu_percent": 0, "client_cpu_percent": 0}
"""Averaged weighted by the rounds' seconds; whole percents, as one run's."""
PERCENTILES = ("p50_ms", "p90_ms", "p99_ms")
"""The median of the rounds' own: percentiles of separate runs do not add up."""
SPREAD = "connections_per_worker"
"""A multi-worker server's connections per worker (a round's one look): each round's kept."""


def in_order(items: Sequence[T], round_index: int) -> list[T]:
    """``items`` as given in even rounds, reversed in odd ones."""
    return list(items) if round_index % 2 == 0 else list(reversed(items))


def merge(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One run per cell, in the order cells first ran, from the rounds' runs."""
    cells: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for run in runs:
        cells.setdefault(tuple(run[key] for key in CELL), []).append(run)
    return [_together(rounds) for rounds in cells.values()]


def _together(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    requests = sum(run["requests"] for run in rounds)
    seconds = sum(run["seconds"] for run in rounds)
    cell = {key: rounds[0][key] for key in CELL}
    cell |= {
        "requests": requests,
        "seconds": round(seconds, 3),
        "rps": round(requests / seconds, 1) if seconds else 0.0,
        "errors": sum(run["errors"] for run in rounds),
        "max_ms": max(run["max_ms"] for run in rounds),
        "rounds": len(rounds),
        "round_rps": [run["rps"] for run in rounds],
        "round_p99_ms": [run["p99_ms"] for run in rounds],
    }
    for key in PERCENTILES:
        cell[key] = statistics.median(run[key] for run in rounds)
    if any(SPREAD in run for run in rounds):
        cell[SPREAD] = [run.get(SPREAD, []) for run in rounds]
    for digits, weight in ((PER_REQUEST, "requests"), (PER_SECOND, "seconds")):
        for key in (k for k in digits if k in rounds[0]):
            total = sum(run[weight] for run in rounds) or 1
            mean = sum(run[key] * run[weight] for run in rounds) / total
            cell[key] = round(mean, digits[key]) if digits[key] else round(mean)
    return cell


def round_ratios(a: dict[str, Any], b: dict[str, Any], key: str = "rps") -> list[float]:
    """Cell ``a``'s req/s (or ``p99_ms``) over cell ``b``'s, round by round (merged cells)."""
    ours, theirs = (cell.get(f"round_{key}", [cell[key]]) for cell in (a, b))
    return [round(x / y, 3) if y else float("inf") for x, y in zip(ours, theirs, strict=True)]
