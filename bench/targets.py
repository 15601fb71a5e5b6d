"""The issue's targets, checked against one run's results: each becomes a row with the
measured ratio (or seconds), the limit, and whether it holds."""

from __future__ import annotations

from typing import Any

from bench import rounds

OURS = "ours-"
PREVIOUS = "previous-"
QUIET = "-quiet"
"""Ours without metrics and the access log (``ours-onnx-quiet``): not as shipped, so never
our side of a ratio against someone else."""
BARE_ORT = "onnxruntime-bare"
OUR_BACKENDS = ("tensorflow", "numpy", "onnx")
AS_CONFIGURED = "default"
"""Our service with its default backends, asked without ``?backend=`` (``ours-default``)."""
DEFAULT_GAIN = 2.0
DEFAULT_GAIN_CELL = ("json", 8)
"""Issue 12: the default backend (now the fastest loaded) against the previous default, in
the cell the issue measured (one 28×28 JSON digit per request, 8 connections); every cell's
ratio is in the report's table against the previous code."""
PROTOCOL_SERVER = OURS + "onnx"
"""Issue 13: v2 against /v1 and the cost of metrics and logs, on our ONNX server, one process."""
V2_GAIN = 1.0
V2_CELLS = ("v2-binary", "json")
"""v2 with binary tensors against /v1's JSON body, same server, same run."""
QUIET_LOSS = 0.97
"""Metrics and the access log may cost the /v1 JSON hot path at most 3% of its req/s."""
SCALING = 1.0
"""Issue 16: our server on N workers against itself on one, each over the ceiling with as
many workers: p99 no worse (≤ 1), req/s scaling at least as the ceiling's does (≥ 1)."""


def http_cell(
    results: dict[str, Any], server: str, body: str, connections: int
) -> dict[str, Any] | None:
    for run in results.get("http", {}).get("runs", []):
        if (run["server"], run["body"], run["connections"]) == (server, body, connections):
            return dict(run)
    return None


def bodies_of(results: dict[str, Any]) -> list[str]:
    """The HTTP part's bodies in the order they ran (png, json, then v2's and gRPC)."""
    return list(dict.fromkeys(run["body"] for run in results.get("http", {}).get("runs", [])))


def previous_pairs(
    results: dict[str, Any], body: str
) -> list[tuple[int, dict[str, Any], dict[str, Any]]]:
    """(connections, ours, previous) for each cell where the previous code ran beside the
    same backend of ours, one process each."""
    pairs = []
    for run in results.get("http", {}).get("runs", []):
        if run["body"] == body and run["server"].startswith(PREVIOUS):
            ours = OURS + run["server"].removeprefix(PREVIOUS)
            cell = http_cell(results, ours, body, run["connections"])
            if cell:
                pairs.append((run["connections"], cell, dict(run)))
    return pairs


def workers_of(server: str) -> int:
    """2 for ``ours-onnx-2w`` or ``ceiling-2w``; 1 for one-process servers."""
    suffix = server.rsplit("-", 1)[-1]
    return int(suffix[:-1]) if suffix.endswith("w") and suffix[:-1].isdigit() else 1


def ceiling_for(server: str) -> str:
    """The ceiling run with as many worker processes as ``server``."""
    workers = workers_of(server)
    return "ceiling" if workers == 1 else f"ceiling-{workers}w"


def best_ours(
    results: dict[str, Any], body: str, connections: int, workers: int | None = None
) -> dict[str, Any] | None:
    """Our fastest server in one cell (most req/s), of any worker count or of ``workers``."""
    runs = [
        run
        for run in results.get("http", {}).get("runs", [])
        if run["server"].startswith(OURS)
        and not run["server"].endswith(QUIET)
        and (run["body"], run["connections"]) == (body, connections)
        and workers in (None, workers_of(run["server"]))
    ]
    return max(runs, key=lambda run: run["rps"]) if runs else None


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("s" if count != 1 else "")


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def row(
    target: str, measured: float, limit: float, at_least: bool, unit: str = "×", **extra: str
) -> dict[str, Any]:
    holds = measured >= limit if at_least else measured <= limit
    sign = "≥" if at_least else "≤"
    return {
        "target": target,
        "measured": round(measured, 3),
        "unit": unit,
        "limit": f"{sign} {limit}{unit}",
        "holds": bool(holds),
        **extra,
    }


def rps_row(
    target: str, ours: dict[str, Any], theirs: dict[str, Any], limit: float, **extra: str
) -> dict[str, Any]:
    """req/s of one cell over another's, at least ``limit``, with each round's own ratio."""
    per_round = ", ".join(f"{r:.2f}" for r in rounds.round_ratios(ours, theirs))
    return row(target, ratio(ours["rps"], theirs["rps"]), limit, True, rounds=per_round, **extra)


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    http = results.get("http", {})
    bodies = bodies_of(results)
    counts = sorted({run["connections"] for run in http.get("runs", [])})
    scaled = sorted({workers_of(run["server"]) for run in http.get("runs", [])} - {1})
    for body in bodies:
        for count in [c for c in counts if c >= 8]:
            # The target: our best setup against the minimal FastAPI endpoint as one
            # usually runs it, one process; then like for like, both with N workers.
            pairs = [("", best_ours(results, body, count), "ceiling")]
            pairs += [
                (f", both {n} workers", best_ours(results, body, count, n), f"ceiling-{n}w")
                for n in scaled
            ]
            for setup, ours, ceiling_name in pairs:
                ceiling = http_cell(results, ceiling_name, body, count)
                if not (ours and ceiling):
                    continue
                who = ours["server"].removeprefix(OURS)
                cell = f"{body}, {count} connections{setup}"
                rows.append(rps_row(f"req/s vs ceiling, {cell}", ours, ceiling, 1.0, backend=who))
                rows.append(
                    row(
                        f"p99 vs ceiling's, {cell}",
                        ratio(ours["p99_ms"], ceiling["p99_ms"]),
                        1.5,
                        False,
                        backend=who,
                    )
                )
            rows += _scaling_rows(results, [ours for _, ours, _ in pairs[1:] if ours])
        for count in counts:
            ours = best_ours(results, body, count, workers=1)
            naive = http_cell(results, "naive", body, count)
            if ours and naive:
                rows.append(
                    rps_row(
                        f"req/s vs naive Keras service, {body}, {plural(count, 'connection')}",
                        ours,
                        naive,
                        20,
                        backend=ours["server"].removeprefix(OURS),
                    )
                )
    rows += _protocol_rows(results, counts)
    for count, ours, previous in previous_pairs(results, DEFAULT_GAIN_CELL[0]):
        if ours["server"] == OURS + AS_CONFIGURED and count == DEFAULT_GAIN_CELL[1]:
            rows.append(
                rps_row(
                    f"req/s of the default backend vs the previous code's default, "
                    f"{DEFAULT_GAIN_CELL[0]}, {plural(count, 'connection')}, same run",
                    ours,
                    previous,
                    DEFAULT_GAIN,
                )
            )
    for count, ours, previous in previous_pairs(results, "png"):
        if ours["server"] == OURS + AS_CONFIGURED:
            continue
        rows.append(
            rps_row(
                f"28×28 PNG req/s vs previous code, same run, {plural(count, 'connection')}",
                ours,
                previous,
                0.95,
                backend=ours["server"].removeprefix(OURS),
            )
        )
    photos = results.get("photos", {})
    if "ratio_median" in photos:
        rows.append(
            row(
                "photo normalisation, new vs previous code (median ms per ~700×900 JPEG, "
                "decode included)",
                photos["ratio_median"],
                1.0,
                False,
            )
        )
    rows += _model_rows(results.get("throughput", {}).get("candidates", {}))
    for backend, limit in (("numpy", 3), ("tensorflow", 10)):
        start = results.get("coldstart", {}).get(backend)
        if start:
            rows.append(row(f"cold start, {backend}", start["seconds"], limit, False, unit=" s"))
    return rows


def _scaling_rows(results: dict[str, Any], scaled: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 16's, for each of our cells on N workers: p99 and req/s over the ceiling's on
    N workers, divided by the same over the ceiling's for our same backend in one process.
    With p99, at most 1: spreading connections over workers costs our tail no more than it
    costs the ceiling's; with req/s, at least 1: ours gains from workers as the ceiling does."""
    rows = []
    for many in scaled:
        server, body, count = many["server"], many["body"], many["connections"]
        workers = workers_of(server)
        many_ceiling = http_cell(results, ceiling_for(server), body, count)
        one = http_cell(results, server.removesuffix(f"-{workers}w"), body, count)
        one_ceiling = http_cell(results, "ceiling", body, count)
        if not (many_ceiling and one and one_ceiling):
            continue
        for key, figure, at_least in (("p99_ms", "p99", False), ("rps", "req/s", True)):
            with_many = ratio(many[key], many_ceiling[key])
            with_one = ratio(one[key], one_ceiling[key])
            per_round = [
                a / b
                for a, b in zip(
                    rounds.round_ratios(many, many_ceiling, key),
                    rounds.round_ratios(one, one_ceiling, key),
                    strict=True,
                )
            ]
            rows.append(
                row(
                    f"{figure} ÷ ceiling's, {plural(workers, 'worker')} ({with_many:.2f}×) over "
                    f"1 ({with_one:.2f}×), {body}, {plural(count, 'connection')}",
                    ratio(with_many, with_one),
                    SCALING,
                    at_least,
                    rounds=", ".join(f"{r:.2f}" for r in per_round),
                    backend=server.removeprefix(OURS),
                )
            )
    return rows


def _protocol_rows(results: dict[str, Any], counts: list[int]) -> list[dict[str, Any]]:
    """Issue 13's, at each connection count: v2 binary against /v1 JSON, and ours against
    ours without metrics and the access log (JSON body), each on the same server, same run."""
    rows = []
    v2_body, v1_body = V2_CELLS
    for count in counts:
        v1 = http_cell(results, PROTOCOL_SERVER, v1_body, count)
        v2 = http_cell(results, PROTOCOL_SERVER, v2_body, count)
        quiet = http_cell(results, PROTOCOL_SERVER + QUIET, v1_body, count)
        backend = PROTOCOL_SERVER.removeprefix(OURS)
        if v1 and v2:
            rows.append(
                rps_row(
                    f"v2 binary req/s vs /v1 JSON's, same server, same run, "
                    f"{plural(count, 'connection')}",
                    v2,
                    v1,
                    V2_GAIN,
                    backend=backend,
                )
            )
        if v1 and quiet:
            rows.append(
                rps_row(
                    f"req/s with metrics and access log vs without, {v1_body}, "
                    f"{plural(count, 'connection')}",
                    v1,
                    quiet,
                    QUIET_LOSS,
                    backend=backend,
                )
            )
    return rows


def _model_rows(candidates: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    ours = {name: c for name, c in candidates.items() if name in OUR_BACKENDS}
    bare = candidates.get(BARE_ORT)
    if ours and bare and "1024" in bare:
        best = max(ours, key=lambda name: ours[name]["1024"]["images_per_s"])
        rows.append(
            row(
                "best backend vs bare onnxruntime, images/s at batch 1024",
                ratio(ours[best]["1024"]["images_per_s"], bare["1024"]["images_per_s"]),
                0.95,
                True,
                backend=best,
            )
        )
    if ours and bare and "1" in bare:
        best = min(ours, key=lambda name: ours[name]["1"]["call_p50_ms"])
        rows.append(
            row(
                "best backend vs bare onnxruntime, latency at batch 1",
                ratio(ours[best]["1"]["call_p50_ms"], bare["1"]["call_p50_ms"]),
                1.2,
                False,
                backend=best,
            )
        )
    numpy, tensorflow = candidates.get("numpy"), candidates.get("tensorflow")
    for batch, limit in (("1", 1.0), ("1024", 0.8)):
        if numpy and tensorflow and batch in numpy and batch in tensorflow:
            rows.append(
                row(
                    f"NumPy vs TensorFlow, images/s at batch {batch}",
                    ratio(numpy[batch]["images_per_s"], tensorflow[batch]["images_per_s"]),
                    limit,
                    True,
                )
            )
    return rows
