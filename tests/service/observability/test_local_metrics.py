"""The figures one process keeps itself (``LocalFamily``) and the answered requests handed
over in bulk (``observability.answered``): what a scrape reads must be what prometheus-client's
own metrics would have said."""

from __future__ import annotations

import gc
import logging
import threading
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from service.observability import access_log, answered, metrics
from service.observability.metrics import (
    LocalCounter,
    LocalFamily,
    LocalHistogram,
    LocalLevel,
    observe_requests,
)
from tests.service.observability.scraping import Samples, parse, value

BOUNDS = (0.001, 0.01, 0.1)


def scraped(*families: LocalFamily[Any]) -> Samples:
    """The families as a scrape renders them."""
    registry = CollectorRegistry()
    collector = metrics.LocalCollector()
    for family in families:
        collector.add(family)
    registry.register(collector)
    return parse(generate_latest(registry).decode())


def histogram(name: str = "test_seconds") -> LocalFamily[LocalHistogram]:
    return LocalFamily(name, "Test.", "histogram", ["route"], lambda: LocalHistogram(BOUNDS))


def test_a_local_histogram_renders_as_prometheus_clients_own_does():
    amounts = [0.0005, 0.001, 0.002, 0.01, 0.05, 0.1, 0.5, 7.0]  # on the bounds too: le is ≤
    registry = CollectorRegistry()
    theirs = Histogram("test_seconds", "Test.", ["route"], buckets=BOUNDS, registry=registry)
    one_by_one, all_at_once = histogram(), histogram()
    for amount in amounts:
        theirs.labels("/a").observe(amount)
        one_by_one.labels("/a").observe(amount)
    all_at_once.labels("/a").observe_all(amounts)
    expected = without_created(parse(generate_latest(registry).decode()))
    assert without_created(scraped(one_by_one)) == pytest.approx(expected)
    assert without_created(scraped(all_at_once)) == pytest.approx(expected)
    assert value(expected, "test_seconds_bucket", route="/a", le="0.001") == 2
    assert value(scraped(one_by_one), "test_seconds_created", route="/a") > 0


def without_created(samples: Samples) -> Samples:
    return {key: number for key, number in samples.items() if not key[0].endswith("_created")}


def test_a_local_counter_renders_with_its_suffixes():
    counter = LocalFamily("test_things", "Things.", "counter", ["kind"], LocalCounter)
    counter.labels("a").inc()
    counter.labels("a").inc(2)
    samples = scraped(counter)
    assert value(samples, "test_things_total", kind="a") == 3
    assert value(samples, "test_things_created", kind="a") > 0


class Queue:
    def __init__(self, waiting: int) -> None:
        self.images = waiting

    def waiting(self) -> int:
        return self.images


def test_a_local_level_is_what_its_live_sources_say_when_scraped():
    level = LocalFamily("test_waiting", "Waiting.", "gauge", ["kind"], LocalLevel)
    first, second = Queue(2), Queue(3)
    level.labels("a").follow(first.waiting)
    level.labels("a").follow(second.waiting)
    assert value(scraped(level), "test_waiting", kind="a") == 5
    first.images = 7
    assert value(scraped(level), "test_waiting", kind="a") == 10
    del second  # a batcher unloaded with its version: no longer counted
    gc.collect()
    samples = scraped(level)
    assert value(samples, "test_waiting", kind="a") == 7
    assert ("test_waiting_created", (("kind", "a"),)) not in samples


def test_a_family_refuses_the_wrong_number_of_label_values():
    with pytest.raises(ValueError, match="takes labels"):
        histogram().labels("/a", "extra")


def test_local_series_lose_no_update_to_threads():
    counter = LocalFamily("test_racing", "Racing.", "counter", [], LocalCounter)
    latency = histogram("test_racing_seconds")

    def hammer() -> None:
        for _ in range(20_000):
            counter.labels().inc()
            latency.labels("/a").observe(0.005)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    samples = scraped(counter, latency)
    assert value(samples, "test_racing_total") == 80_000
    assert value(samples, "test_racing_seconds_count", route="/a") == 80_000


def test_requests_observed_in_bulk_count_each_series_once_per_request():
    key = ("v1", "/test/bulk", 200)
    labels = {"protocol": "v1", "route": "/test/bulk"}
    before = parse(generate_latest().decode())
    observe_requests([(key, 0.0002), (key, 0.003), (("v1", "/test/bulk", 404), 0.0001)])
    after = parse(generate_latest().decode())

    def moved(name: str, **more: str) -> float:
        return value(after, name, **labels, **more) - value(before, name, **labels, **more)

    assert moved("lenet_requests_total", status="200") == 2
    assert moved("lenet_requests_total", status="404") == 1
    assert moved("lenet_request_duration_seconds_count") == 3
    assert moved("lenet_request_duration_seconds_bucket", le="0.00025") == 2
    assert moved("lenet_request_duration_seconds_sum") == pytest.approx(0.0033)


def test_a_flush_counts_and_logs_what_waits(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="service.access")
    facts = access_log.RequestFacts("flush-1", batch_size=2, backend="onnx", version="1")
    before = parse(generate_latest().decode())
    answered.record((True, "POST", "/v2/models/lenet/infer", "/v2/x", 200, 0.0004, facts))
    answered.record((True, "GET", "/v1/y", "/v1/y", 404, 0.0001, None))  # counted, not logged
    answered.record((False, "GET", "/v1/z", "", 200, 0.0001, facts))  # logged, not counted
    answered.flush()
    after = parse(generate_latest().decode())
    assert (
        value(after, "lenet_requests_total", protocol="v2", route="/v2/x", status="200")
        - (value(before, "lenet_requests_total", protocol="v2", route="/v2/x", status="200"))
        == 1
    )
    assert (
        value(after, "lenet_requests_total", protocol="v1", route="/v1/y", status="404")
        - (value(before, "lenet_requests_total", protocol="v1", route="/v1/y", status="404"))
        == 1
    )
    lines = [
        line
        for record in caplog.records
        if record.name == "service.access"
        for line in record.getMessage().splitlines()
    ]
    assert [line.split('"path":')[1].split(",")[0] for line in lines] == [
        '"/v2/models/lenet/infer"',
        '"/v1/z"',
    ]
    assert '"duration_ms":0.4,' in lines[0]
    assert not answered._waiting
