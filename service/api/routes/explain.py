"""``/v1/explain``: which pixels decided a digit, as numbers or as a heat map.

The chosen backend predicts; the gradients always come from the NumPy network's backward
pass on the same version's weights (``service.runtime.explaining``), since no other backend
has one.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from service.api import pictures, responses
from service.api.contracts import Encoding, ExplainResponse
from service.api.dependencies import Inference, inference_for
from service.api.openapi import INFERENCE_QUERY, errors, image_body
from service.api.routes.activations import EncodingQuery, LayersQuery, uploaded_digit
from service.inputs.prepare import Digits

router = APIRouter(prefix="/v1", tags=["explanations"])

DigitQuery = Annotated[
    int | None, Query(ge=0, le=9, description="the digit to explain; default: the predicted one")
]
SIDE = 28 * pictures.HEAT_ZOOM
PNG: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"image/png": {}},
        "description": (
            f"a {SIDE}×{SIDE} RGB heat map of d p[digit] / d input over the digit: red where "
            "more ink would raise the probability, blue where it would lower it"
        ),
    }
}


async def _predicted(
    request: Request, job: Inference, digit: int | None
) -> tuple[Digits, np.ndarray, int]:
    """The request's one image, the backend's (10,) probabilities for it, and the digit to
    explain."""
    image = await uploaded_digit(request, job)
    probabilities = (await job.runner.predict(image.images, image.viewed))[0]
    return image, probabilities, int(probabilities.argmax()) if digit is None else digit


@router.post(
    "/explain",
    summary="Why the network chose a digit: its probability's gradient by input pixel",
    openapi_extra={**image_body(batch=False), "parameters": INFERENCE_QUERY},
    responses=errors(400, 404, 413, 415, 422, 503),
)
async def explain_digit(
    request: Request,
    digit: DigitQuery = None,
    layers: LayersQuery = None,
    encoding: EncodingQuery = Encoding.json,
) -> ExplainResponse:
    job = inference_for(request)
    names = job.model.select_layers(layers)
    image, probabilities, explained = await _predicted(request, job, digit)

    def run() -> ExplainResponse:
        found = job.model.explainer.explain(image.images, [explained])
        return responses.explanation(
            job.model,
            job.runner.name,
            image.images[0],
            image.boxes[0],
            probabilities,
            explained,
            found,
            names,
            encoding,
        )

    return await run_in_threadpool(run)


@router.post(
    "/explain.png",
    summary="The saliency map as a heat map over the digit",
    response_class=Response,
    openapi_extra={**image_body(batch=False), "parameters": INFERENCE_QUERY},
    responses={**PNG, **errors(400, 404, 413, 415, 422, 503)},
)
async def explain_digit_picture(request: Request, digit: DigitQuery = None) -> Response:
    job = inference_for(request)
    image, _, explained = await _predicted(request, job, digit)

    def run() -> bytes:
        found = job.model.explainer.explain(image.images, [explained])
        return pictures.saliency_heat_map(image.images[0, :, :, 0], found.gradient[0, :, :, 0])

    return Response(await run_in_threadpool(run), media_type="image/png")
