"""``GET /v1/model``: the served model's layer table and model card, and its training
curves as a picture."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from model.artifacts import CURVES_FILE
from service.api.contracts import ModelSummary
from service.api.dependencies import ModelDep, RepositoryDep
from service.api.openapi import errors
from service.errors import NotFound

router = APIRouter(prefix="/v1", tags=["model"])


@router.get("/model", summary="Layers, parameters and model card", responses=errors(404, 503))
async def get_model_summary(model: ModelDep, repository: RepositoryDep) -> ModelSummary:
    architecture = model.architecture
    return ModelSummary(
        model=model.name,
        version=str(model.version),
        versions=[str(v) for v in repository.versions()],
        backends=list(model.runners),
        default_backend=model.default_backend,
        default_backend_reason=model.default_backend_reason,
        input_shape=architecture["input_shape"],
        layers=architecture["layers"],
        total_parameters=architecture["total_parameters"],
        trainable_parameters=architecture["trainable_parameters"],
        card=model.card,
    )


@router.get(
    "/model/curves.png",
    summary="Training curves: loss and accuracy per epoch, training vs validation",
    response_class=FileResponse,
    responses={
        200: {"content": {"image/png": {}}, "description": "the training job's curves.png"},
        **errors(404, 503),
    },
)
async def get_training_curves(model: ModelDep) -> FileResponse:
    path = model.path / CURVES_FILE
    if not path.is_file():  # a version published by hand may lack it
        raise NotFound(f"version {model.version} has no {CURVES_FILE}")
    return FileResponse(path, media_type="image/png")
