"""What the service counts: one set of Prometheus metrics per process, named ``lenet_*``.

prometheus-client keeps metrics in its process-wide default registry, so they are defined
here once, at import, and every app in the process shares them (tests build several apps;
they compare values before and after, never absolute ones). Label values come from small
fixed sets — route templates, never raw paths — because each distinct value is a time
series of its own.

What is counted where: requests and their latency by the HTTP middleware
(``observability.middleware``) and by the gRPC servicer, through ``observe_request``;
model calls, queue depth and shed requests by each backend's ``MicroBatcher``
(``BatcherMetrics``); versions served by the model repository; image decode failures and
``no_digit`` answers where they are raised. ``LENET_METRICS=false`` stops all but the last
two, which are raised where no settings reach, cost nothing on an answer that succeeds, and
go unseen without ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter

import numpy as np
from prometheus_client import Counter, Gauge, Histogram

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

REQUESTS = Counter(
    "lenet_requests",
    "Requests answered, by protocol (v1, v2, grpc), route template and status.",
    ["protocol", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "lenet_request_duration_seconds",
    "Time from a request's arrival to the end of its answer.",
    ["protocol", "route"],
    buckets=REQUEST_BUCKETS,
)
INFERENCE_SECONDS = Histogram(
    "lenet_inference_duration_seconds",
    "Time of one model call on a batch of images.",
    ["backend", "version"],
    buckets=INFERENCE_BUCKETS,
)
BATCH_SIZE = Histogram(
    "lenet_batch_size",
    "Images per model call: concurrent requests' images batched together.",
    ["backend", "version"],
    buckets=BATCH_BUCKETS,
)
QUEUED_IMAGES = Gauge(
    "lenet_queued_images",
    "Images waiting for a model call.",
    ["backend", "version"],
    multiprocess_mode="livesum",  # each worker has its own queue: the images waiting in all
)
SHED_REQUESTS = Counter(
    "lenet_shed_requests",
    "Requests refused with 503 (overloaded) because too many images were waiting.",
    ["backend", "version"],
)
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

_request_series: dict[tuple[str, str, int | str], tuple[Counter, Histogram]] = {}
"""Each label set's counter and histogram, found once: ``labels()`` takes a lock and
validates its values on every call, several times the cost of a dict lookup."""


def observe_request(protocol: str, route: str, status: int | str, seconds: float) -> None:
    """Count one answered request and its latency in seconds.

    ``route`` must come from a fixed set: a route template (``/v2/models/{name}/infer``),
    a gRPC method's full name, or ``UNMATCHED``. The HTTP middleware calls this for every
    request; the gRPC servicer calls it for every RPC, when ``settings.metrics`` is on, with
    ``protocol="grpc"`` and the status code's name (``"OK"``, ``"INVALID_ARGUMENT"``).
    """
    key = (protocol, route, status)
    series = _request_series.get(key)
    if series is None:
        series = (
            REQUESTS.labels(protocol, route, str(status)),
            REQUEST_SECONDS.labels(protocol, route),
        )
        _request_series[key] = series
    counter, latency = series
    counter.inc()
    latency.observe(seconds)


class BatcherMetrics:
    """One batcher's figures, its labels (backend, version) bound once."""

    __slots__ = ("_batch_size", "_queued", "_seconds", "_shed")

    def __init__(self, backend: str, version: str) -> None:
        self._queued = QUEUED_IMAGES.labels(backend, version)
        self._shed = SHED_REQUESTS.labels(backend, version)
        self._seconds = INFERENCE_SECONDS.labels(backend, version)
        self._batch_size = BATCH_SIZE.labels(backend, version)

    def queued(self, images: int) -> None:
        """``images`` joined the queue (negative: left it for a model call)."""
        self._queued.inc(images)

    def shed(self) -> None:
        self._shed.inc()

    def timed(
        self, predict: Callable[[np.ndarray], np.ndarray]
    ) -> Callable[[np.ndarray], np.ndarray]:
        """``predict`` that also records each call's time and batch size, in whichever
        thread runs it (the event loop or the batcher's worker)."""

        def run(images: np.ndarray) -> np.ndarray:
            started = perf_counter()
            probabilities = predict(images)
            self._seconds.observe(perf_counter() - started)
            self._batch_size.observe(len(images))
            return probabilities

        return run


def version_served(version: int, served: bool) -> None:
    """A model version was loaded (``served``) or unloaded."""
    VERSION_LOADED.labels(str(version)).inc(1 if served else -1)


def count_decode_failure() -> None:
    DECODE_FAILURES.inc()


def count_no_digit() -> None:
    NO_DIGIT.inc()
