"""What routes receive: the repository and model version through ``Depends``, and the
inference routes' options, read straight from the query string.

``Depends`` functions are ``async def``: they only read ``app.state``, and FastAPI runs a
plain ``def`` dependency in the thread pool, a thread hop per dependency per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from service.backends import Backend
from service.repository import ModelRepository, ModelVersion
from service.schemas import Preprocess
from service.settings import BackendName, Settings


class InferenceOptions(BaseModel):
    """The query parameters of the inference routes."""

    backend: BackendName | None = Field(
        default=None, description="inference backend; default: the server's"
    )
    version: str | None = Field(
        default=None, description="model version to use; default: the latest served"
    )
    preprocess: Preprocess | None = Field(
        default=None, description="default: mnist for images, none for JSON arrays"
    )


@dataclass(frozen=True)
class Inference:
    """What an inference route works with: settings, model version, backend, preprocessing."""

    settings: Settings
    model: ModelVersion
    backend: Backend
    preprocess: Preprocess | None


def inference_for(request: Request) -> Inference:
    """Validate ``InferenceOptions`` from the query string and look up what they name.

    Called by the route itself, not through ``Depends``: FastAPI solves dependencies and
    query parameters one by one, a large part of what ``bench/stages.py`` calls "the rest"
    on this hot path, where one pydantic validation does the same checks at once. Invalid
    values give the same 422 that FastAPI's own validation does.
    """
    try:
        options = InferenceOptions.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]
        ) from exc
    repository: ModelRepository = request.app.state.repository
    model = repository.get(options.version)
    return Inference(
        request.app.state.settings, model, model.backend(options.backend), options.preprocess
    )


async def get_repository(request: Request) -> ModelRepository:
    return request.app.state.repository


RepositoryDep = Annotated[ModelRepository, Depends(get_repository)]


async def get_model(
    repository: RepositoryDep,
    version: Annotated[
        str | None, Query(description=InferenceOptions.model_fields["version"].description)
    ] = None,
) -> ModelVersion:
    return repository.get(version)


ModelDep = Annotated[ModelVersion, Depends(get_model)]
