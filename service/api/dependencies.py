"""What routes receive: the repository and model version through ``Depends``, and what the
inference routes' options name, read straight from the query string.

``Depends`` functions are ``async def``: they only read ``app.state``, and FastAPI runs a
plain ``def`` dependency in the thread pool, a thread hop per dependency per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from service.api.contracts import InferenceOptions, ModelOptions
from service.inputs.prepare import Preprocess
from service.runtime.repository import ModelRepository
from service.runtime.version import ModelVersion, Runner
from service.settings import Settings
from service.shutdown import Termination


@dataclass(frozen=True)
class Inference:
    """What an inference route works with: settings, model version, the backend's runner,
    preprocessing."""

    settings: Settings
    model: ModelVersion
    runner: Runner
    preprocess: Preprocess | None


def inference_for(
    request: Request, options_type: type[ModelOptions] = InferenceOptions
) -> Inference:
    """Validate ``options_type`` from the query string and look up what they name.

    Called by the route itself, not through ``Depends``: FastAPI solves dependencies and
    query parameters one by one, a large part of what ``bench/stages.py`` calls "the rest"
    on this hot path, where one pydantic validation does the same checks at once. Invalid
    values give the same 422 that FastAPI's own validation does.
    """
    try:
        options = options_type.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]
        ) from exc
    model = repository_of(request).get(options.version)
    preprocess = options.preprocess if isinstance(options, InferenceOptions) else None
    return Inference(request.app.state.settings, model, model.runner(options.backend), preprocess)


def repository_of(request: Request) -> ModelRepository:
    repository: ModelRepository = request.app.state.repository
    return repository


def termination_of(request: Request) -> Termination:
    termination: Termination = request.app.state.termination
    return termination


async def get_repository(request: Request) -> ModelRepository:
    return repository_of(request)


RepositoryDep = Annotated[ModelRepository, Depends(get_repository)]


async def get_termination(request: Request) -> Termination:
    return termination_of(request)


TerminationDep = Annotated[Termination, Depends(get_termination)]


async def get_model(
    repository: RepositoryDep,
    version: Annotated[
        str | None, Query(description=InferenceOptions.model_fields["version"].description)
    ] = None,
) -> ModelVersion:
    return repository.get(version)


ModelDep = Annotated[ModelVersion, Depends(get_model)]
