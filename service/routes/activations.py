"""``/v1/activations``: what every layer computes for one image, as numbers or as pictures."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from service import inference, render
from service.deps import Inference, inference_for
from service.errors import NotFound
from service.examples import EXAMPLE_PNG
from service.inputs.bodies import read_one, to_digits
from service.inputs.photos import Digit
from service.routes.docs import INFERENCE_QUERY, errors, image_body
from service.schemas import ActivationsResponse, Encoding

router = APIRouter(prefix="/v1/activations", tags=["activations"])

LayersQuery = Annotated[
    str | None, Query(description="comma-separated layer names, e.g. conv1,pool1; default: all")
]
PNG = {200: {"content": {"image/png": {}}, "description": "the layer's feature maps as a grid"}}


async def read_one_digit(request: Request, job: Inference) -> Digit:
    """The request's single image (or array) as a digit; 422 for a batch."""
    item = await read_one(request, max_batch=job.settings.max_batch_size)
    found = await to_digits([item], job.preprocess, max_pixels=job.settings.max_image_pixels)
    return found[0]


@router.post(
    "",
    summary="Every layer's output for one image",
    openapi_extra={**image_body(batch=False), "parameters": INFERENCE_QUERY},
    responses=errors(400, 404, 413, 415, 422, 503),
)
async def get_activations(
    request: Request,
    layers: LayersQuery = None,
    encoding: Annotated[Encoding, Query(description="json: nested lists; base64: float32")] = (
        Encoding.json
    ),
) -> ActivationsResponse:
    job = inference_for(request)
    names = inference.select_layers(job.model, layers)
    digit = await read_one_digit(request, job)
    return await run_in_threadpool(
        inference.activations, job.model, job.backend, digit, names, encoding
    )


async def _layer_png(job: Inference, layer: str, tensor: np.ndarray) -> Response:
    if layer not in job.model.layer_names:
        layers = ", ".join(job.model.layer_names)
        raise NotFound(f"unknown layer {layer!r}; the layers are: {layers}")

    def run() -> bytes:
        outputs = job.backend.activations(inference.network_input(tensor[None]))
        return render.feature_map_grid(outputs[layer][0])

    return Response(await run_in_threadpool(run), media_type="image/png")


@router.post(
    "/{layer}.png",
    summary="One layer's feature maps as a picture",
    response_class=Response,
    openapi_extra={**image_body(batch=False), "parameters": INFERENCE_QUERY},
    responses={**PNG, **errors(400, 404, 413, 415, 422, 503)},
)
async def get_layer_picture(request: Request, layer: str) -> Response:
    job = inference_for(request)
    return await _layer_png(job, layer, (await read_one_digit(request, job)).tensor)


@router.get(
    "/{layer}.png",
    summary="One layer's feature maps for an example digit (a 7 from MNIST's test set)",
    response_class=Response,
    openapi_extra={"parameters": INFERENCE_QUERY},
    responses={**PNG, **errors(404, 422, 503)},
)
async def get_example_layer_picture(request: Request, layer: str) -> Response:
    job = inference_for(request)
    found = await to_digits([EXAMPLE_PNG], job.preprocess, max_pixels=job.settings.max_image_pixels)
    return await _layer_png(job, layer, found[0].tensor)
