"""bench.observability_http: as shipped ÷ quiet over several process pairs, each pair's kept."""

from pathlib import Path
from typing import Any

from bench import observability_http


def run(server: str, pair: int, rps: float, cpu_ms: float, connections: int = 8) -> dict[str, Any]:
    return {
        "server": server,
        "body": "json",
        "connections": connections,
        "pair": pair,
        "round": 0,
        "requests": round(rps * 2),
        "seconds": 2.0,
        "rps": rps,
        "errors": 0,
        "max_ms": 9.0,
        "p50_ms": 1.0,
        "p90_ms": 2.0,
        "p99_ms": 3.0,
        "server_cpu_ms_per_request": cpu_ms,
    }


def test_a_cell_is_every_pair_together_with_each_pairs_own_ratio_beside_it() -> None:
    runs = [
        run("ours-onnx-quiet", 0, 1000, 0.5),  # whoever ran first, the ratio is ours ÷ quiet
        run("ours-onnx", 0, 900, 0.55),
        run("ours-onnx", 1, 1100, 0.45),
        run("ours-onnx-quiet", 1, 1000, 0.5),
        run("ours-onnx", 0, 100, 1.0, connections=1),
        run("ours-onnx-quiet", 0, 200, 1.0, connections=1),
    ]
    [eight, one] = observability_http.summarise(runs, "ours-onnx", "ours-onnx-quiet")
    assert (eight["connections"], one["connections"]) == (8, 1)
    assert eight["rps"] == [1000.0, 1000.0]  # 4000 requests in 4 s on each side
    assert eight["ratio"] == 1.0
    assert eight["pair_ratios"] == [0.9, 1.1]  # what the processes alone moved
    assert eight["server_cpu_ms_per_request"] == [0.495, 0.5]  # (990 + 990) ms / 4000
    assert (one["ratio"], one["pair_ratios"]) == (0.5, [0.5])


def test_a_pair_is_ours_with_its_quiet_twin_or_with_itself() -> None:
    shipped, quiet = observability_http.pair(Path("models"), same=False)
    assert quiet.env["LENET_METRICS"] == quiet.env["LENET_ACCESS_LOG"] == "false"
    assert "LENET_METRICS" not in shipped.env
    first, twin = observability_http.pair(Path("models"), same=True)
    assert twin.name == first.name + observability_http.TWIN != first.name  # own log file
    assert twin.env == first.env
