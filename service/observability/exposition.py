"""How Prometheus reads the figures: ``GET /metrics`` in its text format, summed over
the worker processes when there are several.

Each worker process counts on its own. With several, ``python -m service`` gives them a
fresh ``PROMETHEUS_MULTIPROC_DIR`` (``shared_by_workers``); prometheus-client then keeps
every value in a file per process there, and whichever worker answers ``/metrics`` reads
and sums them all (``MultiProcessCollector``; gauges by their ``multiprocess_mode``). The
variable is prometheus-client's own, read by it at import, so it is no setting of ours;
the process's own figures (CPU, memory, garbage collection) are reported only without it,
since they cannot be summed. A worker that exits leaves its files: its counts stay in the
sums, and its live gauges are dropped when the supervisor replaces it (``forget_worker``).

A worker's file exists empty for a moment before prometheus-client sizes it, and stays empty
if the worker is killed in that moment; prometheus-client's own collector then fails every
scrape (prometheus/client_python#1199, open in 0.26), so ``WrittenFilesCollector`` leaves
such files out: they hold no values yet.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import cast

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from service.observability import answered
from service.observability.metrics import MULTIPROC_DIR, shared_by_processes
from service.settings import Settings


def metrics_router() -> APIRouter:
    """``GET /metrics``: this process's metrics, or every worker's when they share a
    ``PROMETHEUS_MULTIPROC_DIR``."""
    registry = REGISTRY
    if shared_by_processes():
        registry = CollectorRegistry()
        registry.register(WrittenFilesCollector(os.environ[MULTIPROC_DIR]))
    router = APIRouter(tags=["metrics"])

    @router.get(
        "/metrics",
        summary="Prometheus metrics, in its text format",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    def get_metrics() -> Response:  # a plain def, so in a thread: rendering takes milliseconds
        answered.flush()  # the requests answered in the last tenth of a second count too
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router


class WrittenFilesCollector(Collector):
    """prometheus-client's ``MultiProcessCollector`` over the files in ``path`` that have
    been sized, so a worker starting (or killed while starting) fails no scrape."""

    def __init__(self, path: str) -> None:
        self.path = path

    def collect(self) -> Iterable[Metric]:
        files = [f for f in glob.glob(os.path.join(self.path, "*.db")) if written(f)]
        return cast(Iterable[Metric], MultiProcessCollector.merge(files))  # type: ignore[no-untyped-call]


def written(path: str) -> bool:
    """Whether prometheus-client has sized the values file at ``path``: it creates it empty,
    then sizes it. One gone since it was listed (a dead worker's live gauges) is not."""
    try:
        return os.path.getsize(path) > 0
    except FileNotFoundError:
        return False


@contextmanager
def shared_by_workers(settings: Settings) -> Iterator[None]:
    """For ``python -m service``: with metrics and several workers, a fresh directory for
    their values, in the environment they inherit, removed at exit. Enter it before any
    worker starts: prometheus-client picks where values live when it is imported. Fresh,
    because files left by an earlier run would add their counts to this one's."""
    if settings.workers == 1 or not settings.metrics:
        yield
        return
    path = tempfile.mkdtemp(prefix="lenet-metrics-")
    os.environ[MULTIPROC_DIR] = path
    try:
        yield
    finally:
        shutil.rmtree(path, ignore_errors=True)


def forget_worker(pid: int) -> None:
    """For the supervisor, once worker ``pid`` has exited: its live gauges (the images that
    were waiting in its queue, the versions it had loaded) leave the sums; its counters stay,
    as the requests it answered did happen."""
    if shared_by_processes():
        mark_process_dead(pid)  # type: ignore[no-untyped-call]
