"""``GET /v1/model``: the served model's layer table, model card and blessing, every loaded
version's blessing and which answers by default, and its training curves as a picture."""

from __future__ import annotations

from fastapi import APIRouter, Response

from model.artifacts import CURVES_FILE, Blessing
from service.api.contracts import BlessingSummary, ModelSummary, VersionSummary
from service.api.dependencies import ModelDep, RepositoryDep
from service.api.openapi import errors
from service.errors import NotFound

router = APIRouter(prefix="/v1", tags=["model"])


@router.get("/model", summary="Layers, parameters and model card", responses=errors(404, 503))
async def get_model_summary(model: ModelDep, repository: RepositoryDep) -> ModelSummary:
    architecture = model.architecture
    loaded = repository.loaded()
    return ModelSummary(
        model=model.name,
        version=str(model.version),
        versions=[str(entry.model.version) for entry in loaded],
        default_version=str(repository.get().version),
        blessing=summarize(repository.blessing(model.version)),
        loaded=[
            VersionSummary(
                version=str(entry.model.version),
                default=entry.default,
                blessing=summarize(entry.blessing),
                test_accuracy=entry.model.card.get("test_accuracy"),
                test_samples=entry.model.card.get("test_samples"),
            )
            for entry in loaded
        ],
        backends=list(model.runners),
        default_backend=model.default_backend,
        default_backend_reason=model.default_backend_reason,
        input_shape=architecture["input_shape"],
        layers=architecture["layers"],
        total_parameters=architecture["total_parameters"],
        trainable_parameters=architecture["trainable_parameters"],
        card=model.card,
    )


def summarize(blessing: Blessing) -> BlessingSummary:
    return BlessingSummary(
        status=blessing.status, reason=blessing.reason, by=blessing.by, at=blessing.at
    )


@router.get(
    "/model/curves.png",
    summary="Training curves: loss and accuracy per epoch, training vs validation",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}, "description": "the training job's curves.png"},
        **errors(404, 503),
    },
)
async def get_training_curves(model: ModelDep) -> Response:
    """Its bytes, not a ``FileResponse``: that one answers a Range it cannot serve in plain
    text, outside the service's error shape, for a picture of some tens of kilobytes."""
    try:
        picture = (model.path / CURVES_FILE).read_bytes()
    except (FileNotFoundError, IsADirectoryError):  # a version published by hand may lack it
        raise NotFound(f"version {model.version} has no {CURVES_FILE}") from None
    return Response(picture, media_type="image/png")
