"""Issue 13's target rows, from a made-up HTTP part."""

from typing import Any

from bench import targets


def cell(server: str, body: str, rps: float, connections: int = 8) -> dict[str, Any]:
    return {"server": server, "body": body, "connections": connections, "rps": rps}


def test_protocol_rows_compare_ours_onnx_with_itself() -> None:
    runs = [
        cell("ours-onnx", "json", 1000),
        cell("ours-onnx-quiet", "json", 1020),
        cell("ours-onnx", "v2-binary", 1100),
        cell("ours-numpy", "v2-binary", 5000),  # another server: not in these rows
    ]
    rows = targets.evaluate({"http": {"runs": runs}})
    assert [(r["measured"], r["holds"]) for r in rows] == [(1.1, True), (0.98, True)]
    assert all(r["backend"] == "onnx" for r in rows)


def test_protocol_rows_fail_when_metrics_cost_more_than_3_percent() -> None:
    runs = [cell("ours-onnx", "json", 960), cell("ours-onnx-quiet", "json", 1000)]
    [row] = targets.evaluate({"http": {"runs": runs}})
    assert (row["measured"], row["holds"]) == (0.96, False)


def test_best_ours_leaves_out_the_quiet_server() -> None:
    runs = [cell("ours-onnx", "json", 1000), cell("ours-onnx-quiet", "json", 2000)]
    best = targets.best_ours({"http": {"runs": runs}}, "json", 8)
    assert best is not None and best["server"] == "ours-onnx"


def timed(server: str, rps: float, p99_ms: float, connections: int = 8) -> dict[str, Any]:
    return cell(server, "json", rps, connections) | {"p99_ms": p99_ms}


def scaling(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in targets.evaluate({"http": {"runs": runs}}) if " over 1 " in r["target"]]


def test_scaling_rows_set_two_workers_over_their_ceiling_beside_one_over_its() -> None:
    runs = [
        timed("ours-onnx", 2000, 4.0),
        timed("ceiling", 4000, 2.0),  # one process: ours has 0.5× its req/s, 2× its p99
        timed("ours-onnx-2w", 3000, 3.0),
        timed("ceiling-2w", 5000, 2.0),  # two workers: 0.6× its req/s, 1.5× its p99
    ]
    p99, rps = scaling(runs)
    assert p99["target"] == "p99 ÷ ceiling's, 2 workers (1.50×) over 1 (2.00×), json, 8 connections"
    assert (p99["measured"], p99["limit"], p99["holds"]) == (0.75, "≤ 1.0×", True)
    assert rps["target"].startswith("req/s ÷ ceiling's, 2 workers (0.60×) over 1 (0.50×)")
    assert (rps["measured"], rps["limit"], rps["holds"]) == (1.2, "≥ 1.0×", True)
    assert p99["backend"] == rps["backend"] == "onnx-2w"


def test_scaling_rows_fail_when_two_workers_lose_more_to_their_ceiling_than_one() -> None:
    runs = [
        timed("ours-onnx", 2000, 2.0),
        timed("ceiling", 4000, 2.0),
        timed("ours-onnx-2w", 2000, 4.0),
        timed("ceiling-2w", 8000, 2.0),
    ]
    p99, rps = scaling(runs)
    assert (p99["measured"], p99["holds"]) == (2.0, False)
    assert (rps["measured"], rps["holds"]) == (0.5, False)


def test_scaling_rows_show_each_rounds_own_ratio_of_ratios() -> None:
    merged = [
        timed("ours-onnx", 2000, 4.0) | {"round_rps": [2000, 2000], "round_p99_ms": [4.0, 4.0]},
        timed("ceiling", 4000, 2.0) | {"round_rps": [4000, 4000], "round_p99_ms": [2.0, 2.0]},
        timed("ours-onnx-2w", 3000, 3.0) | {"round_rps": [3000, 2000], "round_p99_ms": [3, 2]},
        timed("ceiling-2w", 5000, 2.0) | {"round_rps": [5000, 5000], "round_p99_ms": [2, 2]},
    ]
    p99, rps = scaling(merged)
    assert (p99["rounds"], rps["rounds"]) == ("0.75, 0.50", "1.20, 0.80")


def test_scaling_rows_need_all_four_cells_and_many_connections() -> None:
    one_connection = [timed(s, 1000, 1.0, connections=1) for s in ("ours-onnx", "ceiling")]
    one_connection += [timed(s, 2000, 1.0, connections=1) for s in ("ours-onnx-2w", "ceiling-2w")]
    assert scaling(one_connection) == []  # one connection lands on one worker, however spread
    assert scaling([timed(s, 1000, 1.0) for s in ("ours-onnx-2w", "ceiling-2w", "ceiling")]) == []
