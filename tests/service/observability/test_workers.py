"""``python -m service`` with two worker processes: /metrics sums both, whichever answers, and
a worker that dies leaves its counts in the sums but not the images it held."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from service.runtime import views
from tests.service.drawing import draw_digit, encode
from tests.service.observability.scraping import Samples, parse, value
from tests.service.processes import held_batches
from tests.service.workers import workers

REQUESTS = 40
PREDICT = {"protocol": "v1", "route": "/v1/predict"}
NUMPY_V1 = {"backend": "numpy", "version": "1"}
SEVEN = encode(draw_digit(7), "PNG")
HELD_MS = 3000
"""How long a lone batch waits for company: long enough to see both workers hold images."""


def predict(url: str) -> int:
    """One predict request on a connection of its own: its status, 0 if the connection broke."""
    files = {"file": ("7.png", SEVEN, "image/png")}
    try:
        return httpx.post(f"{url}/v1/predict", files=files, timeout=60).status_code
    except httpx.TransportError:
        return 0


def scrapes(url: str, times: int = 6) -> list[Samples]:
    """``times`` scrapes of /metrics, each on a fresh connection: either worker may answer."""
    return [parse(httpx.get(f"{url}/metrics").text) for _ in range(times)]


def test_two_workers_report_the_sum_of_their_counts(tmp_path):
    with workers(tmp_path) as server:
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(predict, [server.url] * REQUESTS))
        assert statuses == [200] * REQUESTS
        counts = server.answered(REQUESTS)
        assert sum(counts.values()) == REQUESTS
        assert len([c for c in counts.values() if c]) == 2, f"one worker answered all: {counts}"
        for samples in scrapes(server.url):
            assert value(samples, "lenet_requests_total", **PREDICT, status="200") == REQUESTS
            assert value(samples, "lenet_request_duration_seconds_count", **PREDICT) == REQUESTS
            # in rows: the drawn seven is cut out of its image, and read over its views
            assert value(samples, "lenet_batch_size_sum", **NUMPY_V1) == REQUESTS * views.VIEWS
            assert value(samples, "lenet_model_version_loaded", version="1") == 1
    assert not list(tmp_path.glob("lenet-metrics-*")), "the metrics directory was left behind"
    lines = server.log.read_text().splitlines()
    assert any(f"lenet-serve: HTTP on 127.0.0.1:{server.port}" in line for line in lines)
    access = [json.loads(line) for line in lines if line.startswith("{")]
    assert len([a for a in access if a["path"] == "/v1/predict"]) == REQUESTS


def test_a_dead_workers_counts_stay_in_the_sums_and_its_held_images_leave_them(tmp_path):
    with workers(tmp_path, **held_batches(HELD_MS)) as server:
        with ThreadPoolExecutor(REQUESTS) as pool:
            answered = list(pool.map(predict, [server.url] * REQUESTS))
            killed = max(server.answered(REQUESTS).items(), key=lambda item: item[1])[0]
            held = [pool.submit(predict, server.url) for _ in range(REQUESTS)]
            deadline = time.monotonic() + HELD_MS / 1000
            while not server.queued().get(killed):
                assert time.monotonic() < deadline, "the worker never held images"
                time.sleep(0.02)
            os.kill(killed, signal.SIGKILL)
            statuses = answered + [f.result() for f in held]
        while killed in server.pids():  # until it is gone (a zombie has no command line)
            time.sleep(0.01)
        server.wait_for(2)
        ok = statuses.count(200)
        server.answered(ok)
        files = {path.name for path in server.metrics_dir().iterdir()}
        samples = scrapes(server.url)

    assert answered == [200] * REQUESTS
    assert 0 in statuses, "no request was lost with the killed worker"
    for scraped in samples:
        assert value(scraped, "lenet_requests_total", **PREDICT, status="200") == ok
        assert value(scraped, "lenet_queued_images", **NUMPY_V1) == 0
        assert value(scraped, "lenet_model_version_loaded", version="1") == 1
    assert f"counter_{killed}.db" in files
    assert not [name for name in files if name.endswith(f"_{killed}.db") and "live" in name]
