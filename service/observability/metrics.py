"""What the service counts: one set of Prometheus metrics per process, named ``lenet_*``.

Metrics live in prometheus-client's process-wide default registry, so they are defined
here once, at import, and every app in the process shares them (tests build several apps;
they compare values before and after, never absolute ones). Label values come from small
fixed sets — route templates, never raw paths — because each distinct value is a time
series of its own.

What is counted where: requests and their latency by the HTTP middleware
(``observability.middleware``) and by the gRPC servicer, through ``observe_request``;
model calls, queue depth and shed requests by each backend's ``MicroBatcher``
(``BatcherMetrics``); versions served by the model repository; image decode failures and
``no_digit`` answers where they are raised; refusals beyond the connection cap where the
server answers them (``connections``). ``LENET_METRICS=false`` stops all but the last
three, which are raised where no settings reach, cost nothing on an answer that succeeds,
and go unseen without ``/metrics``.

How the figures that move on every request or model call are kept depends on the process.
Alone (one worker), they are plain numbers, one small lock per series (``LocalFamily``),
read by the registry only when ``/metrics`` is scraped: prometheus-client's own metric
objects cost several times as much per update (validity checks and a lock per value, a
walk over the buckets per observation), which was most of what metrics cost a 28×28
request (``make bench``: ``ours-onnx`` ÷ ``ours-onnx-quiet``). With several workers
(``PROMETHEUS_MULTIPROC_DIR`` set, see ``observability.exposition``) every value has to
land in prometheus-client's files that the workers share, so they are its own objects.
"""

from __future__ import annotations

import functools
import math
import os
import time
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from threading import Lock
from time import perf_counter
from typing import Any, Generic, Literal, Protocol, TypeVar
from weakref import WeakMethod

import numpy as np
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus-client's own variable: where worker processes keep their values."""

UNMATCHED = "unmatched"
"""The route label of a request no route answered (a 404, or a body refused by its
Content-Length before routing): one series however many paths are tried."""

REQUEST_BUCKETS = (0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
"""Seconds: from a 28×28 digit (a few hundred µs in the app, ``python -m bench.stages``) to
photos (~10 ms to decode and normalise a phone JPEG, docs/benchmarks.md) and batches."""
INFERENCE_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1)
"""Seconds: at batch 1, ~40 µs with ONNX, ~0.1 ms with NumPy, ~1 ms with TensorFlow
(``python -m bench.stages``); larger batches take longer."""
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def shared_by_processes() -> bool:
    """Whether values go to files shared by worker processes (prometheus-client's
    multiprocess mode): it decides when it is imported, from ``PROMETHEUS_MULTIPROC_DIR``."""
    return bool(os.environ.get(MULTIPROC_DIR))


class Counts(Protocol):
    """One series of a counter or a gauge."""

    def inc(self, amount: float = 1) -> None: ...


class Observes(Protocol):
    """One series of a histogram."""

    def observe(self, amount: float) -> None: ...


S = TypeVar("S", bound="LocalSeries")
T = TypeVar("T")
S_co = TypeVar("S_co", covariant=True)


class Labelled(Protocol[S_co]):
    """A metric with labels, prometheus-client's or a ``LocalFamily``."""

    def labels(self, *values: str) -> S_co: ...


class LocalSeries(Protocol):
    def samples(self, metric: Metric, name: str, labels: dict[str, str]) -> None:
        """Add this series' samples, as of one moment, to ``metric``."""


class LocalCounter:
    """A counter's value in one process."""

    __slots__ = ("_created", "_lock", "_value")

    def __init__(self) -> None:
        self._lock = Lock()
        self._value = 0.0
        self._created = time.time()

    def inc(self, amount: float = 1) -> None:
        with self._lock:
            self._value += amount

    def samples(self, metric: Metric, name: str, labels: dict[str, str]) -> None:
        metric.add_sample(f"{name}_total", labels, self._value)
        metric.add_sample(f"{name}_created", labels, self._created)


class Followed(Generic[T]):
    """Bound methods, each followed only while its object lives."""

    __slots__ = ("_lock", "_methods")

    def __init__(self) -> None:
        self._lock = Lock()
        self._methods: list[WeakMethod[Callable[[], T]]] = []

    def add(self, method: Callable[[], T]) -> None:
        with self._lock:
            self._methods.append(WeakMethod(method))

    def alive(self) -> list[Callable[[], T]]:
        """The methods whose objects live, forgetting the others."""
        with self._lock:
            alive = [method for ref in self._methods if (method := ref()) is not None]
            self._methods = [WeakMethod(method) for method in alive]
        return alive


class LocalLevel:
    """A gauge that is the sum of what its sources say when scraped: nothing to update as
    the level moves. A source is a bound method, followed only while its object lives."""

    __slots__ = ("_sources",)

    def __init__(self) -> None:
        self._sources = Followed[int]()

    def follow(self, source: Callable[[], int]) -> None:
        self._sources.add(source)

    def samples(self, metric: Metric, name: str, labels: dict[str, str]) -> None:
        metric.add_sample(name, labels, float(sum(read() for read in self._sources.alive())))


class LocalHistogram:
    """A histogram's bucket counts (not cumulative; the last is +Inf) and sum in one process."""

    __slots__ = ("_bounds", "_counts", "_created", "_le", "_lock", "_sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self._bounds = bounds
        self._le = [floatToGoString(b) for b in (*bounds, math.inf)]  # type: ignore[no-untyped-call]
        self._lock = Lock()
        self._counts = [0] * (len(bounds) + 1)
        self._sum = 0.0
        self._created = time.time()

    def observe(self, amount: float) -> None:
        bucket = bisect_left(self._bounds, amount)  # the first bound ≥ amount: Prometheus' le
        with self._lock:
            self._counts[bucket] += 1
            self._sum += amount

    def observe_all(self, amounts: Sequence[float]) -> None:
        """``observe`` each of ``amounts``, taking the lock once."""
        buckets = [bisect_left(self._bounds, amount) for amount in amounts]
        total = sum(amounts)
        with self._lock:
            for bucket in buckets:
                self._counts[bucket] += 1
            self._sum += total

    def samples(self, metric: Metric, name: str, labels: dict[str, str]) -> None:
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative = 0
        for le, count in zip(self._le, counts, strict=True):
            cumulative += count
            metric.add_sample(f"{name}_bucket", labels | {"le": le}, cumulative)
        metric.add_sample(f"{name}_count", labels, cumulative)
        metric.add_sample(f"{name}_sum", labels, total)
        metric.add_sample(f"{name}_created", labels, self._created)


class LocalFamily(Generic[S]):
    """A metric's series by label values, kept by this process, read when scraped."""

    def __init__(
        self,
        name: str,
        documentation: str,
        kind: str,
        labelnames: Sequence[str],
        make: Callable[[], S],
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._kind = kind  # Prometheus' type: counter, gauge or histogram
        self._labelnames = tuple(labelnames)
        self._make = make
        self._series: dict[tuple[str, ...], S] = {}
        self._lock = Lock()

    def labels(self, *values: str) -> S:
        """The series of these label values (in ``labelnames``' order), made on first use."""
        if len(values) != len(self._labelnames):
            raise ValueError(f"{self._name} takes labels {self._labelnames}, not {values}")
        with self._lock:
            series = self._series.get(values)
            if series is None:
                series = self._series[values] = self._make()
            return series

    def describe(self) -> Metric:
        return Metric(self._name, self._documentation, self._kind)

    def collect(self) -> Metric:
        metric = self.describe()
        with self._lock:
            every = list(self._series.items())
        for values, series in every:
            series.samples(metric, self._name, dict(zip(self._labelnames, values, strict=True)))
        return metric


class LocalCollector:
    """The ``LocalFamily`` metrics, for prometheus-client's registry; before it reads them,
    it has what waits to be counted counted (``before_collect``)."""

    def __init__(self) -> None:
        self._families: list[LocalFamily[Any]] = []
        self._folds = Followed[None]()

    def add(self, family: LocalFamily[S]) -> LocalFamily[S]:
        self._families.append(family)
        return family

    def before_collect(self, fold: Callable[[], None]) -> None:
        """Call ``fold`` (a bound method) before each scrape, while its object lives."""
        self._folds.add(fold)

    def describe(self) -> list[Metric]:
        return [family.describe() for family in self._families]

    def collect(self) -> list[Metric]:
        for fold in self._folds.alive():
            fold()
        return [family.collect() for family in self._families]


_local = LocalCollector()


def _counter(name: str, documentation: str, labelnames: list[str]) -> Labelled[Counts]:
    if shared_by_processes():
        return Counter(name, documentation, labelnames)
    return _local.add(LocalFamily(name, documentation, "counter", labelnames, LocalCounter))


def _level(
    name: str, documentation: str, labelnames: list[str], multiprocess_mode: Literal["livesum"]
) -> Labelled[Counts | LocalLevel]:
    if shared_by_processes():
        return Gauge(name, documentation, labelnames, multiprocess_mode=multiprocess_mode)
    return _local.add(LocalFamily(name, documentation, "gauge", labelnames, LocalLevel))


def _histogram(
    name: str, documentation: str, labelnames: list[str], buckets: Sequence[float]
) -> Labelled[Observes]:
    if shared_by_processes():
        return Histogram(name, documentation, labelnames, buckets=buckets)
    make = functools.partial(LocalHistogram, buckets)
    return _local.add(LocalFamily(name, documentation, "histogram", labelnames, make))


REQUESTS = _counter(
    "lenet_requests",
    "Requests answered, by protocol (v1, v2, grpc), route template and status.",
    ["protocol", "route", "status"],
)
REQUEST_SECONDS = _histogram(
    "lenet_request_duration_seconds",
    "Time from a request's arrival to the end of its answer.",
    ["protocol", "route"],
    REQUEST_BUCKETS,
)
INFERENCE_SECONDS = _histogram(
    "lenet_inference_duration_seconds",
    "Time of one model call on a batch of images.",
    ["backend", "version"],
    INFERENCE_BUCKETS,
)
BATCH_SIZE = _histogram(
    "lenet_batch_size",
    "Rows per model call: concurrent requests' images batched together, a digit cut out of a"
    " photo counting one row per view of it.",
    ["backend", "version"],
    BATCH_BUCKETS,
)
QUEUED_IMAGES = _level(
    "lenet_queued_images",
    "Images waiting for a model call.",
    ["backend", "version"],
    multiprocess_mode="livesum",  # each worker has its own queue: the images waiting in all
)
SHED_REQUESTS = _counter(
    "lenet_shed_requests",
    "Requests refused with 503 (overloaded) because too many images were waiting.",
    ["backend", "version"],
)
if not shared_by_processes():
    REGISTRY.register(_local)
VERSION_LOADED = Gauge(
    "lenet_model_version_loaded",
    "1 while a model version is served, 0 once unloaded.",
    ["version"],
    # Raised and lowered, not set: apps that share a process (the tests') each count theirs.
    multiprocess_mode="livemax",  # served by any worker; each worker loads the same folders
)
DECODE_FAILURES = Counter(
    "lenet_image_decode_failures",
    "Uploads that are not a complete PNG, JPEG, BMP, GIF or WebP image (400).",
)
NO_DIGIT = Counter(
    "lenet_no_digit_answers",
    "Images answered no_digit (422): nothing written on them.",
)
CONNECTION_CAP_REFUSALS = Counter(
    "lenet_connection_cap_refusals",
    "Requests answered 503 beyond the connection cap (LENET_MAX_CONNECTIONS), by the "
    "server before the app: not in lenet_requests.",
)

FOLD_AT = 1024
"""Model calls a ``BatcherMetrics`` keeps before it counts them, if no scrape does first."""

RequestKey = tuple[str, str, int | str]
"""An answered request's protocol, route and status."""

_request_series: dict[RequestKey, tuple[Counts, Observes]] = {}
"""Each label set's counter and histogram, found once: a family's ``labels()`` takes a
lock (and prometheus-client's validates its values) on every call."""


def observe_requests(latencies: Mapping[RequestKey, list[float]]) -> None:
    """Count answered requests, grouped by their (protocol, route, status), with each one's
    latency in seconds: each series is then updated once, not once per request.

    ``route`` must come from a fixed set: a route template (``/v2/models/{name}/infer``),
    a gRPC method's full name, or ``UNMATCHED``. The HTTP middleware hands its requests
    over in bulk (``observability.answered``); the gRPC servicer each RPC, when
    ``settings.metrics`` is on, with ``protocol="grpc"`` and the status code's name
    (``"OK"``, ``"INVALID_ARGUMENT"``).
    """
    for key, seconds_each in latencies.items():
        series = _request_series.get(key)
        if series is None:
            protocol, route, status = key
            series = (
                REQUESTS.labels(protocol, route, str(status)),
                REQUEST_SECONDS.labels(protocol, route),
            )
            _request_series[key] = series
        counter, latency = series
        counter.inc(len(seconds_each))
        observe_all(latency, seconds_each)


def observe_all(histogram: Observes, amounts: Sequence[float]) -> None:
    """``histogram.observe`` each of ``amounts``: in one go for our own (one process)."""
    if isinstance(histogram, LocalHistogram):
        histogram.observe_all(amounts)
    else:
        for amount in amounts:
            histogram.observe(amount)


def observe_request(protocol: str, route: str, status: int | str, seconds: float) -> None:
    """Count one answered request (see ``observe_requests``)."""
    observe_requests({(protocol, route, status): [seconds]})


class BatcherMetrics:
    """One batcher's figures, its labels (backend, version) bound once.

    In one process each model call's time and batch size wait in a list, and are sorted
    into the two histograms together, ``FOLD_AT`` calls at a time or when scraped: the
    batcher calls the model right after ONNX Runtime has pushed everything else out of the
    CPU's caches, and two histogram updates there (a lock, a bisection and two sums each)
    cost a 28×28 request a few microseconds, where an append costs next to nothing."""

    __slots__ = ("__weakref__", "_batch_size", "_calls", "_folding", "_queue", "_seconds", "shed")

    def __init__(self, backend: str, version: str) -> None:
        self._queue = QUEUED_IMAGES.labels(backend, version)
        self.shed: Callable[[], None] = SHED_REQUESTS.labels(backend, version).inc
        self._seconds = INFERENCE_SECONDS.labels(backend, version)
        self._batch_size = BATCH_SIZE.labels(backend, version)
        self._calls: list[tuple[float, int]] = []
        self._folding = Lock()
        if not shared_by_processes():
            _local.before_collect(self.fold)

    def follow_queue(self, waiting: Callable[[], int]) -> Callable[[int], None] | None:
        """How the batcher reports the images waiting in its queue: None where the scrape
        calls ``waiting`` (a bound method) itself, in one process; else the function to
        call with each change (images that joined; negative: left for a model call), which
        lands in the files that several workers share."""
        if isinstance(self._queue, LocalLevel):
            self._queue.follow(waiting)
            return None
        return self._queue.inc

    def timed(
        self, predict: Callable[[np.ndarray], np.ndarray]
    ) -> Callable[[np.ndarray], np.ndarray]:
        """``predict`` that also records each call's time and batch size, in whichever
        thread runs it (the event loop or the batcher's worker)."""
        seconds, batch_size = self._seconds, self._batch_size
        if not isinstance(seconds, LocalHistogram):  # several workers: straight to the files

            def observed(images: np.ndarray) -> np.ndarray:
                started = perf_counter()
                probabilities = predict(images)
                seconds.observe(perf_counter() - started)
                batch_size.observe(len(images))
                return probabilities

            return observed

        calls, fold = self._calls, self.fold

        def run(images: np.ndarray) -> np.ndarray:
            started = perf_counter()
            probabilities = predict(images)
            calls.append((perf_counter() - started, len(images)))  # atomic: no lock
            if len(calls) >= FOLD_AT:
                fold()
            return probabilities

        return run

    def fold(self) -> None:
        """Sort the model calls that wait into the histograms."""
        with self._folding:  # one fold at a time; appends go on meanwhile, for the next
            taken = self._calls[:]
            del self._calls[: len(taken)]
        if taken:
            seconds_each, sizes = zip(*taken, strict=True)
            observe_all(self._seconds, seconds_each)
            observe_all(self._batch_size, sizes)


def version_served(version: int, served: bool) -> None:
    """A model version was loaded (``served``) or unloaded."""
    VERSION_LOADED.labels(str(version)).inc(1 if served else -1)


def count_decode_failure() -> None:
    DECODE_FAILURES.inc()


def count_no_digit() -> None:
    NO_DIGIT.inc()


def count_connection_cap_refusal() -> None:
    CONNECTION_CAP_REFUSALS.inc()
