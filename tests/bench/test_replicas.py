"""bench.replicas: the capacity plan's arithmetic and the report, on figures made up here (the
measurement itself needs docker: tests/e2e/compose-scale.sh runs the same stack)."""

from typing import Any

from bench import replicas


def bench_run(backend: str, body: str, connections: int, cpu_ms: float) -> dict[str, Any]:
    return {
        "server": f"ours-{backend}",
        "body": body,
        "connections": connections,
        "server_cpu_ms_per_request": cpu_ms,
        "p99_ms": 4.0,
    }


def bench_results() -> dict[str, Any]:
    runs = [
        bench_run("onnx", "json", 8, 0.5),  # 2,000 req/s a core, 1,300 planned
        bench_run("onnx", "json", 64, 0.25),  # another concurrency: not the plan's
        bench_run("onnx", "v2-json", 8, 0.5),  # not a /v1 body
        {"server": "ceiling", "body": "json", "connections": 8, "server_cpu_ms_per_request": 0.1},
    ]
    return {"http": {"runs": runs}, "machine": {"date": "2026-12-02T07:16:07+00:00"}}


def test_plan_counts_cores_at_the_headroom_plus_spares() -> None:
    planned = replicas.plan(bench_results(), proxy_ms=0.05)
    (row,) = planned["rows"]
    assert (row["backend"], row["body"], row["per_core_rps"]) == ("onnx", "json", 2000)
    # 1k: 1 core and a spare; 10k: 8 (7.7) and a spare; 100k: 77 (76.9) and 8 spares.
    assert row["replicas"] == [2, 9, 85]
    # The proxy: 0.05 ms a request is 50 ms of CPU a second per 1k req/s, at 65 %.
    assert planned["proxy_cores"] == [1, 1, 8]


def cell(server: str, count: int, rps: float) -> dict[str, Any]:
    return {
        "server": server,
        "replicas": count,
        "rps": rps,
        "p50_ms": 1.0,
        "p99_ms": 9.0,
        "errors": 0,
        "round_rps": [rps, rps],
        "replicas_cpu_ms_per_request": 0.4,
        "proxy_cpu_ms_per_request": 0.05,
        "replicas_cpu_percent": 100,
        "proxy_cpu_percent": 10,
        "wrk_cpu_percent": 5,
        "machine_cpu_percent": 180,
    }


def test_report_shows_speedup_and_share_of_linear() -> None:
    results = {
        "machine": {
            "cpu": "a CPU",
            "cpus_usable": 2,
            "date": "today",
            "load_average_start": [1.0, 1.0, 1.0],
        },
        "load_average_end": [1.0, 1.0, 1.0],
        "wrk": "wrk 4",
        "settings": {
            "argv": "",
            "build": "built first: api and proxy",
            "image": "lenet-serve:latest",
            "backends": "compose's default",
            "body": "json",
            "connections": 64,
            "duration": 20.0,
            "rounds": 2,
            "order": "1, 2 | 2, 1",
        },
        "cells": [
            cell("1 behind the proxy", 1, 1000),
            cell("1 direct", 1, 1100),
            cell("2 behind the proxy", 2, 1500),
        ],
        "cold_start": [{"replicas": 1, "seconds": 3.0}],
        "memory": {
            "1": {
                "replica_rss_mib": [600.0],
                "replica_container_mib": [290.0],
                "proxy_rss_mib": 37.0,
                "proxy_container_mib": 17.0,
            }
        },
        "plan": replicas.plan(bench_results(), proxy_ms=0.05),
    }
    page = replicas.report(results)
    assert "| 2 | behind the proxy | 1,500 | 1.50× | 75% |" in page
    assert "| 0.400 | 0.050 | 2,222 |" in page  # 1000 / (0.4 + 0.05) requests a CPU-second
    assert "| 1 | direct | 1,100 | 1.10× |  |" in page
    assert "| onnx | json | 0.50 | 2,000 | 4.0 | 2 | 9 | 85 |" in page
    assert "each replica's process 600–600 MiB resident" in page


def test_proxy_lists_read_the_supervisors_last_line() -> None:
    log = "upstreams: ready: 10.0.0.2\nnginx noise\nupstreams: ready: 10.0.0.2, 10.0.0.3\n"
    (last,) = replicas.PROXY_LOG_LINE.findall(log)[-1:]
    assert {a.strip() for a in last.split(",")} == {"10.0.0.2", "10.0.0.3"}
