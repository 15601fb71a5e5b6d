"""Metrics and logs: what is counted (``metrics``), how Prometheus reads it (``exposition``),
the JSON access log (``access_log``), and the one middleware that times each request for
both (``middleware``).

``install`` adds what ``LENET_METRICS`` and ``LENET_ACCESS_LOG`` ask for; with both off,
a request meets none of it.
"""

from __future__ import annotations

from fastapi import FastAPI

from service.observability.exposition import metrics_router
from service.observability.middleware import ObserveRequests
from service.settings import Settings


def install(app: FastAPI, settings: Settings) -> None:
    """Add the middleware and ``GET /metrics`` as the settings ask. Call it after the other
    ``add_middleware`` calls: the last added runs outermost, and sees their answers too."""
    if settings.metrics or settings.access_log:
        app.add_middleware(
            ObserveRequests, router=app.router, count=settings.metrics, log=settings.access_log
        )
    if settings.metrics:
        app.include_router(metrics_router())
