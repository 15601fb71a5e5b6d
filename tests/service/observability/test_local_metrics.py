"""The figures one process keeps itself (``LocalFamily``) and the answered requests handed
over in bulk (``observability.answered``): what a scrape reads must be what prometheus-client's
own metrics would have said."""

from __future__ import annotations

import gc
import json
import logging
import threading
from typing import Any

import numpy as np
import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest

from service.observability import access_log, answered, metrics
from service.observability.metrics import (
    FOLD_AT,
    UNMATCHED,
    BatcherMetrics,
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
    amounts = [0.0005, 0.001, 0.002, 0.002, 0.01, 0.05, 0.1, 0.5, 7.0]  # on the bounds: le is ≤
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
    observe_requests({key: [0.0002, 0.003], ("v1", "/test/bulk", 404): [0.0001]})
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
    infer, nowhere = (
        access_log.start("POST", "/v2/models/lenet/infer", "flush-1"),
        access_log.start("GET", "/x", "flush-2"),
    )
    infer.update(status=200, duration_ms=0.4)  # as the middleware completes a line
    nowhere.update(status=404, duration_ms=0.1)
    before = parse(generate_latest().decode())
    answered.record(("/v2/models/lenet/infer", "/v2/x", 200, 0.0004, infer))
    answered.record(("/v1/y", "/v1/y", 404, 0.0001, None))  # counted, not logged
    answered.record(("/v2/nowhere/flush", "/v2/x", 200, 0.0002, None))  # one series by route
    answered.record(("/x", None, 404, 0.0001, nowhere))  # logged, not counted
    answered.record(("/v2/flush/none", UNMATCHED, 404, 0.0001, None))  # each by its path
    answered.record(("/v1/flush/none", UNMATCHED, 404, 0.0001, None))
    answered.record(("/v2/flush/none", UNMATCHED, 404, 0.0001, None))
    answered.flush()
    after = parse(generate_latest().decode())

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    v2 = {"protocol": "v2", "route": "/v2/x"}
    assert moved("lenet_requests_total", **v2, status="200") == 2
    assert moved("lenet_request_duration_seconds_sum", **v2) == pytest.approx(0.0006)
    assert moved("lenet_requests_total", protocol="v1", route="/v1/y", status="404") == 1
    unmatched = {"route": UNMATCHED, "status": "404"}
    assert moved("lenet_requests_total", protocol="v2", **unmatched) == 2
    assert moved("lenet_requests_total", protocol="v1", **unmatched) == 1
    texts = [
        text
        for record in caplog.records
        if record.name == "service.access"
        for text in record.getMessage().splitlines()
    ]
    assert texts[0] == (  # the fields in this order
        '{"method":"POST","path":"/v2/models/lenet/infer","status":200,"duration_ms":0.4,'
        '"batch_size":null,"backend":null,"version":null,"request_id":"flush-1"}'
    )
    assert [json.loads(text) for text in texts] == [infer, nowhere]
    assert not answered._waiting


def test_lines_are_dropped_if_the_log_is_off_when_they_are_flushed(
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.WARNING, logger="service.access")
    answered.record(("/x", None, 200, 0.001, access_log.start("GET", "/x", "dropped")))
    answered.flush()
    assert not [record for record in caplog.records if record.name == "service.access"]
    assert not answered._waiting


def test_model_calls_are_counted_in_bulk_without_a_scrape():
    figures = BatcherMetrics("bulk", "1")
    predict = figures.timed(lambda images: images[:, :1])
    for _ in range(FOLD_AT - 1):
        predict(np.zeros((2, 1)))
    assert len(figures._calls) == FOLD_AT - 1  # waiting, not yet counted
    predict(np.zeros((3, 1)))
    assert not figures._calls
    labels = {"backend": "bulk", "version": "1"}
    assert REGISTRY.get_sample_value("lenet_batch_size_count", labels) == FOLD_AT
    assert REGISTRY.get_sample_value("lenet_batch_size_sum", labels) == 2 * FOLD_AT + 1
    assert REGISTRY.get_sample_value("lenet_inference_duration_seconds_count", labels) == FOLD_AT


def test_what_a_batcher_counted_is_still_read_once_it_is_gone():
    figures = BatcherMetrics("gone", "1")
    figures.timed(lambda images: images)(np.zeros((1, 1)))
    labels = {"backend": "gone", "version": "1"}
    assert REGISTRY.get_sample_value("lenet_batch_size_count", labels) == 1  # folded first
    del figures
    gc.collect()
    assert REGISTRY.get_sample_value("lenet_batch_size_count", labels) == 1
