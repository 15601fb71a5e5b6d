"""``/v1/activations``: what every layer computes for one image, as numbers or as pictures."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from model.spec import LAYER_NAMES
from service.api import pictures, responses
from service.api.bodies import read_one
from service.api.contracts import ActivationsResponse, Encoding
from service.api.dependencies import Inference, inference_for
from service.api.examples import EXAMPLE_PNG
from service.api.openapi import INFERENCE_QUERY, errors, image_body
from service.inputs.pixel_limits import ImageLimits
from service.inputs.prepare import Digits, RawInput, to_digits
from service.observability.access_log import note

router = APIRouter(prefix="/v1/activations", tags=["activations"])

LayersQuery = Annotated[
    str | None, Query(description="comma-separated layer names, e.g. conv1,pool1; default: all")
]
EncodingQuery = Annotated[Encoding, Query(description="json: nested lists; base64: float32")]
LayerPath = Annotated[
    str, Path(description="a layer's name", json_schema_extra={"enum": list(LAYER_NAMES)})
]  # documented, not validated: an unknown layer is a 404 naming the layers there are
PNG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}}, "description": "the layer's feature maps as a grid"}
}


async def one_digit(request: Request, job: Inference, item: RawInput) -> Digits:
    note(request.scope, batch_size=1, backend=job.runner.name, version=job.model.version)
    return await to_digits([item], job.preprocess, limits=ImageLimits.of(job.settings))


async def uploaded_digit(request: Request, job: Inference) -> Digits:
    """The request's single image (or array); 422 for a batch."""
    return await one_digit(
        request, job, await read_one(request, max_images=job.settings.max_images_per_request)
    )


@router.post(
    "",
    summary="Every layer's output for one image",
    openapi_extra={**image_body(batch=False), "parameters": INFERENCE_QUERY},
    responses=errors(400, 404, 413, 415, 422, 503),
)
async def get_activations(
    request: Request,
    layers: LayersQuery = None,
    encoding: EncodingQuery = Encoding.json,
) -> ActivationsResponse:
    job = inference_for(request)
    names = job.model.select_layers(layers)
    digit = await uploaded_digit(request, job)

    def run() -> ActivationsResponse:
        outputs = job.runner.activations(digit.images)
        return responses.activations(
            job.model,
            job.runner.name,
            digit.images[0],
            digit.boxes[0],
            {name: outputs[name] for name in names},
            encoding,
        )

    return await run_in_threadpool(run)


async def _layer_png(job: Inference, layer: str, digit: Digits) -> Response:
    def run() -> bytes:
        return pictures.feature_map_grid(job.runner.activations(digit.images)[layer][0])

    return Response(await run_in_threadpool(run), media_type="image/png")


@router.post(
    "/{layer}.png",
    summary="One layer's feature maps as a picture",
    response_class=Response,
    openapi_extra={**image_body(batch=False), "parameters": INFERENCE_QUERY},
    responses={**PNG, **errors(400, 404, 413, 415, 422, 503)},
)
async def get_layer_picture(request: Request, layer: LayerPath) -> Response:
    job = inference_for(request)
    job.model.check_layers([layer])
    return await _layer_png(job, layer, await uploaded_digit(request, job))


@router.get(
    "/{layer}.png",
    summary="One layer's feature maps for an example digit (a 7 from MNIST's test set)",
    response_class=Response,
    openapi_extra={"parameters": INFERENCE_QUERY},
    responses={**PNG, **errors(404, 422, 503)},
)
async def get_example_layer_picture(request: Request, layer: LayerPath) -> Response:
    job = inference_for(request)
    job.model.check_layers([layer])
    return await _layer_png(job, layer, await one_digit(request, job, EXAMPLE_PNG))
