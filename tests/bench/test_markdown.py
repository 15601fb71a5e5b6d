"""bench.markdown: the HTTP tables."""

from typing import Any

from bench import markdown


def cell(server: str, **figures: Any) -> dict[str, Any]:
    return {
        "server": server,
        "body": "json",
        "connections": 8,
        "rps": 1000.0,
        "p50_ms": 1.0,
        "p99_ms": 2.0,
        "errors": 0,
        "server_cpu_ms_per_request": 0.3,
        "server_cpu_percent": 100,
        "server_context_switches_per_request": 1.0,
        **figures,
    }


def test_a_multi_worker_server_shows_each_rounds_connections_per_worker() -> None:
    http = {
        "runs": [
            cell("ours-onnx"),
            cell("ceiling"),
            cell("ours-onnx-2w", connections_per_worker=[[4, 4], [5, 3]]),
            cell("ceiling-2w", connections_per_worker=[[6, 2], [8, 0]]),
        ]
    }
    lines = markdown._body_table(http, "json").splitlines()
    assert lines[0].endswith("| connections per worker |")
    assert lines[2].endswith("| 1.0 |  |")  # one process: nothing to spread
    assert lines[4].endswith("| 4+4, 5+3 |")
    assert lines[5].endswith("| 6+2, 8+0 |")
