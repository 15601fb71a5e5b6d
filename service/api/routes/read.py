"""``POST /v1/read``: the number written in one image, digit by digit."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from service.api import responses
from service.api.bodies import read_one
from service.api.contracts import ModelOptions, ReadResponse
from service.api.dependencies import inference_for
from service.api.openapi import MODEL_QUERY, errors, image_body
from service.inputs.pixel_limits import ImageLimits
from service.inputs.prepare import to_number
from service.observability.access_log import note

router = APIRouter(prefix="/v1", tags=["inference"])


@router.post(
    "/read",
    summary="Read a number: its digits left to right, each with its box",
    response_model=ReadResponse,
    openapi_extra={**image_body(batch=False, arrays=False), "parameters": MODEL_QUERY},
    responses=errors(400, 404, 413, 415, 422, 503),
)
async def read_number(request: Request) -> Response:
    """A photo of a number written in a row (a house number, a year, up to a dozen digits):
    each digit is found, read as ``/v1/predict`` reads one, and returned left to right."""
    job = inference_for(request, ModelOptions)
    item = await read_one(request, max_images=job.settings.max_images_per_request)
    digits = await to_number(
        item, limits=ImageLimits.of(job.settings), predict=job.runner.backend.predict
    )
    note(
        request.scope,
        batch_size=len(digits.images),
        backend=job.runner.name,
        version=job.model.version,
    )
    probabilities = await job.runner.predict(digits.images, digits.viewed)
    return Response(
        responses.number(job.model, job.runner.name, probabilities, digits.boxes),
        media_type="application/json",
    )
