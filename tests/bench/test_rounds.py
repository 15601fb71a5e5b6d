"""bench.rounds: cells measured in rounds, merged into one figure per cell."""

from typing import Any

from bench import rounds, targets


def run(server: str, rps: float, seconds: float, index: int, **figures: float) -> dict[str, Any]:
    return {
        "server": server,
        "body": "json",
        "connections": 8,
        "round": index,
        "requests": round(rps * seconds),
        "seconds": seconds,
        "rps": rps,
        "errors": 0,
        "max_ms": 10.0 + index,
        "p50_ms": 1.0 + index,
        "p90_ms": 2.0 + index,
        "p99_ms": 3.0 + index,
        "mean_ms": 1.0 + index,
        **figures,
    }


def test_every_other_round_runs_in_reverse() -> None:
    assert [rounds.in_order("abc", i) for i in range(3)] == [list("abc"), list("cba"), list("abc")]


def test_a_cell_is_its_rounds_together() -> None:
    a0 = run("ours-onnx", 1000, 5, 0, server_cpu_ms_per_request=1.0, server_cpu_percent=100)
    a1 = run("ours-onnx", 500, 5, 1, server_cpu_ms_per_request=4.0, server_cpu_percent=200)
    b0 = run("ceiling", 2000, 5, 0)
    [a, b] = rounds.merge([a0, b0, a1])
    assert (a["server"], b["server"]) == ("ours-onnx", "ceiling")  # the order cells first ran
    assert (a["requests"], a["seconds"], a["rps"], a["rounds"]) == (7500, 10, 750.0, 2)
    assert (a["round_rps"], a["round_p99_ms"]) == ([1000, 500], [3.0, 4.0])
    assert a["server_cpu_ms_per_request"] == 2.0  # weighted by requests: (5000 + 10000) / 7500
    assert a["server_cpu_percent"] == 150  # weighted by seconds, whole percents as one run's
    assert isinstance(a["server_cpu_percent"], int)
    assert (a["p99_ms"], a["max_ms"]) == (3.5, 11.0)  # the rounds' median; the most
    assert "client_cpu_ms_per_request" not in a  # only what the rounds measured


def test_a_ratio_row_shows_each_rounds_own_ratio() -> None:
    runs = [
        run("ours-onnx", 990, 5, 0),
        run("ours-onnx-quiet", 1000, 5, 0),
        run("ours-onnx-quiet", 1000, 5, 1),
        run("ours-onnx", 950, 5, 1),
    ]
    [row] = targets.evaluate({"http": {"runs": rounds.merge(runs)}})
    assert row["rounds"] == "0.99, 0.95"
    assert (row["measured"], row["holds"]) == (0.97, True)


def test_a_multi_worker_cell_keeps_each_rounds_connections_per_worker() -> None:
    a0 = run("ours-onnx-2w", 1000, 5, 0, connections_per_worker=[6, 2])
    a1 = run("ours-onnx-2w", 1000, 5, 1, connections_per_worker=[4, 4])
    b0 = run("ours-onnx", 1000, 5, 0)
    [a, b] = rounds.merge([a0, b0, a1])
    assert a["connections_per_worker"] == [[6, 2], [4, 4]]
    assert "connections_per_worker" not in b
