"""bench.pairs: two servers compared over several fresh process pairs, each pair's ratio kept."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench import observability_http, pairs, servers, serving


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
    [eight, one] = pairs.summarise(runs, "ours-onnx", "ours-onnx-quiet")
    assert (eight["connections"], one["connections"]) == (8, 1)
    assert eight["rps"] == [1000.0, 1000.0]  # 4000 requests in 4 s on each side
    assert eight["ratio"] == 1.0
    assert eight["pair_ratios"] == [0.9, 1.1]  # what the processes alone moved
    assert eight["server_cpu_ms_per_request"] == [0.495, 0.5]  # (990 + 990) ms / 4000
    assert (one["ratio"], one["pair_ratios"]) == (0.5, [0.5])


def test_each_pair_loads_first_the_server_the_pair_before_loaded_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order: list[tuple[int, str]] = []

    @contextmanager
    def running(specs: list[servers.ServerSpec]) -> Iterator[list[Any]]:
        yield [SimpleNamespace(spec=spec) for spec in specs]

    def measure(server: Any, body: str, count: int, seconds: float, progress: Any) -> Any:
        order.append((count, server.spec.name))
        return {"server": server.spec.name}

    monkeypatch.setattr(servers, "running", running)
    monkeypatch.setattr(serving, "check", lambda server, body: None)
    monkeypatch.setattr(serving, "measure", measure)
    runs = pairs.measure(
        lambda root: observability_http.pair(root, same=False),
        Path("models"),
        pairs=2,
        connections=[1],
        bodies=["json"],
        duration_s=2,
        rounds_each=2,
        warmup_s=0,
    )
    ours, quiet = "ours-onnx", "ours-onnx-quiet"
    assert [name for _, name in order] == [ours, quiet, quiet, ours, quiet, ours, ours, quiet]
    assert [run["pair"] for run in runs] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert [run["round"] for run in runs] == [0, 0, 1, 1, 0, 0, 1, 1]


def test_a_side_that_answered_nothing_reads_as_an_infinite_ratio_not_a_crash() -> None:
    runs = [run("ours-onnx", 0, 1000, 0.5), {**run("ours-onnx-quiet", 0, 0, 0.0), "requests": 0}]
    [row] = pairs.summarise(runs, "ours-onnx", "ours-onnx-quiet")
    assert row["ratio"] == row["pair_ratios"][0] == float("inf")
    assert row["errors"] == [0, 0]
