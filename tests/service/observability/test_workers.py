"""``python -m service`` with two worker processes: /metrics sums both, whichever answers."""

from __future__ import annotations

import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector

from tests.service.drawing import draw_digit, encode
from tests.service.observability.scraping import parse, value
from tests.service.processes import free_port, service_env, start

REQUESTS = 40
PREDICT = {"protocol": "v1", "route": "/v1/predict"}
SEVEN = encode(draw_digit(7), "PNG")


def wait_until_both_workers_are_ready(url: str, server: subprocess.Popen[bytes]) -> None:
    """Each worker loads its own model; one ready worker answers /readyz as well as two do,
    so wait for a run of fresh connections (the kernel hands each to either) that all are."""
    deadline = time.monotonic() + 120
    in_a_row = 0
    while in_a_row < 20:
        assert server.poll() is None, "the server exited"
        assert time.monotonic() < deadline, "the workers never became ready"
        try:
            ready = httpx.get(f"{url}/readyz").status_code == 200
        except httpx.TransportError:
            ready = False
        in_a_row = in_a_row + 1 if ready else 0
        time.sleep(0.05)


def predict(url: str) -> int:
    """One predict request on a connection of its own."""
    files = {"file": ("7.png", SEVEN, "image/png")}
    return httpx.post(f"{url}/v1/predict", files=files, timeout=60).status_code


def per_worker(counter_files: list[Path]) -> list[float]:
    """Each worker's own count of predict requests, from its file."""
    counts = []
    for path in counter_files:
        metrics = MultiProcessCollector.merge([str(path)])
        counts.append(
            sum(
                sample.value
                for metric in metrics
                for sample in metric.samples
                if sample.name == "lenet_requests_total"
                and sample.labels.get("route") == PREDICT["route"]
            )
        )
    return counts


def settled_counts(shared: Path) -> list[float]:
    """Each worker's count once all have landed: a request is counted just after its answer
    has gone, so the last ones may trail the client by a moment."""
    deadline = time.monotonic() + 10
    while True:
        counts = per_worker(sorted(shared.glob("counter_*.db")))
        if sum(counts) >= REQUESTS or time.monotonic() > deadline:
            return counts
        time.sleep(0.05)


def test_two_workers_report_the_sum_of_their_counts(tmp_path):
    port = free_port()
    env = service_env(
        port,
        LENET_BACKENDS='["numpy"]',
        LENET_WORKERS="2",
        TMPDIR=str(tmp_path),  # where the workers' shared metrics directory goes
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "stderr.log"
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as stderr:
        server = start(env, stderr)
    try:
        wait_until_both_workers_are_ready(url, server)
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(predict, [url] * REQUESTS))
        assert statuses == [200] * REQUESTS
        [shared] = tmp_path.glob("lenet-metrics-*")
        counts = settled_counts(shared)
        assert sum(counts) == REQUESTS
        assert len([c for c in counts if c]) == 2, f"one worker answered them all: {counts}"
        for _ in range(6):  # fresh connections: either worker may answer each scrape
            samples = parse(httpx.get(f"{url}/metrics").text)
            assert value(samples, "lenet_requests_total", **PREDICT, status="200") == REQUESTS
            assert value(samples, "lenet_request_duration_seconds_count", **PREDICT) == REQUESTS
            assert value(samples, "lenet_batch_size_sum", backend="numpy", version="1") == REQUESTS
            assert value(samples, "lenet_model_version_loaded", version="1") == 1
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert not list(tmp_path.glob("lenet-metrics-*")), "the metrics directory was left behind"
    lines = log.read_text().splitlines()
    assert any(f"lenet-serve: HTTP on 127.0.0.1:{port}" in line for line in lines)
    access = [json.loads(line) for line in lines if line.startswith("{")]
    assert len([a for a in access if a["path"] == "/v1/predict"]) == REQUESTS
