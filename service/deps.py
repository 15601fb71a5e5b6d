"""What routes receive: settings, the repository and the model version through ``Depends``,
and the query parameters the inference routes share.

All ``async def``: they only read ``app.state``, and FastAPI runs a plain ``def``
dependency in the thread pool, a thread hop per dependency per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from service.repository import ModelRepository, ModelVersion
from service.schemas import Preprocess
from service.settings import BackendName, Settings


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


BackendQuery = Annotated[
    BackendName | None, Query(description="inference backend; default: the server's")
]
PreprocessQuery = Annotated[
    Preprocess | None,
    Query(description="default: mnist for images, none for JSON arrays"),
]
