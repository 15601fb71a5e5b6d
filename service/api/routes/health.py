"""Liveness and readiness, for Docker's HEALTHCHECK and Kubernetes probes."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.contracts import Status
from service.api.dependencies import RepositoryDep, TerminationDep
from service.api.openapi import errors

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def get_liveness() -> Status:
    return Status(status="alive")


@router.get(
    "/readyz",
    summary="The model is loaded and warmed up, and no stop signal has come",
    responses=errors(503),
)
async def get_readiness(repository: RepositoryDep, termination: TerminationDep) -> Status:
    termination.raise_if_signalled()  # 503 shutting_down: see service.shutdown
    repository.get()  # raises ModelNotReady (503) until a version is loaded and warmed up
    return Status(status="ready")
