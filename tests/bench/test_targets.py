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
