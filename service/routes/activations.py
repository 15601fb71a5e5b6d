"""``/v1/activations``: what every layer computes for one image, as numbers or as pictures."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from service import inference, render
from service.decoding import read_inputs, to_tensors
from service.deps import BackendQuery, ModelDep, PreprocessQuery, SettingsDep
from service.errors import InvalidInput, NotFound
from service.examples import EXAMPLE_PNG
from service.repository import ModelVersion
from service.routes.docs import errors, image_body
from service.schemas import ActivationsResponse, Encoding, Preprocess
from service.settings import Settings

router = APIRouter(prefix="/v1/activations", tags=["activations"])

LayersQuery = Annotated[
    str | None, Query(description="comma-separated layer names, e.g. conv1,pool1; default: all")
]
PNG = {200: {"content": {"image/png": {}}, "description": "the layer's feature maps as a grid"}}


async def read_one_image(
    request: Request, settings: Settings, preprocess: Preprocess | None
) -> np.ndarray:
    """The request's single image as a (28, 28) tensor; 422 for a batch."""
    inputs = await read_inputs(request, max_batch=settings.max_batch_size)
    if len(inputs) != 1:
        raise InvalidInput(f"send exactly one image for activations, not {len(inputs)}")
    tensors = await to_tensors(inputs, preprocess, max_pixels=settings.max_image_pixels)
    return tensors[0]


@router.post(
    "",
    summary="Every layer's output for one image",
    openapi_extra=image_body(batch=False),
    responses=errors(400, 404, 413, 415, 422, 503),
)
async def get_activations(
    request: Request,
    model: ModelDep,
    settings: SettingsDep,
    backend: BackendQuery = None,
    preprocess: PreprocessQuery = None,
    layers: LayersQuery = None,
    encoding: Annotated[Encoding, Query(description="json: nested lists; base64: float32")] = (
        Encoding.json
    ),
) -> ActivationsResponse:
    chosen = model.backend(backend)
    names = inference.select_layers(model, layers)
    tensor = await read_one_image(request, settings, preprocess)
    return await run_in_threadpool(inference.activations, model, chosen, tensor, names, encoding)


async def _layer_png(
    model: ModelVersion, backend: str | None, layer: str, tensor: np.ndarray
) -> Response:
    chosen = model.backend(backend)
    if layer not in model.layer_names:
        raise NotFound(f"unknown layer {layer!r}; the layers are: {', '.join(model.layer_names)}")

    def run() -> bytes:
        outputs = chosen.activations(inference.network_input(tensor[None]))
        return render.feature_map_grid(outputs[layer][0])

    return Response(await run_in_threadpool(run), media_type="image/png")


@router.post(
    "/{layer}.png",
    summary="One layer's feature maps as a picture",
    response_class=Response,
    openapi_extra=image_body(batch=False),
    responses={**PNG, **errors(400, 404, 413, 415, 422, 503)},
)
async def get_layer_picture(
    request: Request,
    layer: str,
    model: ModelDep,
    settings: SettingsDep,
    backend: BackendQuery = None,
    preprocess: PreprocessQuery = None,
) -> Response:
    return await _layer_png(
        model, backend, layer, await read_one_image(request, settings, preprocess)
    )


@router.get(
    "/{layer}.png",
    summary="One layer's feature maps for an example digit (a 7 from MNIST's test set)",
    response_class=Response,
    responses={**PNG, **errors(404, 503)},
)
async def get_example_layer_picture(
    layer: str, model: ModelDep, settings: SettingsDep, backend: BackendQuery = None
) -> Response:
    inputs = [EXAMPLE_PNG]
    tensors = await to_tensors(inputs, None, max_pixels=settings.max_image_pixels)
    return await _layer_png(model, backend, layer, tensors[0])
