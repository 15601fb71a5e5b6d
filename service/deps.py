"""What routes receive through ``Depends``: settings, the repository, the model version.

All ``async def``: they only read ``app.state``, and FastAPI runs a plain ``def``
dependency in the thread pool, a thread hop per dependency per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from service.repository import ModelRepository, ModelVersion
from service.settings import Settings


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_repository(request: Request) -> ModelRepository:
    return request.app.state.repository


SettingsDep = Annotated[Settings, Depends(get_settings)]
RepositoryDep = Annotated[ModelRepository, Depends(get_repository)]


async def get_model(
    repository: RepositoryDep,
    version: Annotated[
        str | None, Query(description="model version to use; default: the latest served")
    ] = None,
) -> ModelVersion:
    return repository.get(version)


ModelDep = Annotated[ModelVersion, Depends(get_model)]
