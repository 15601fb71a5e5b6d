"""``POST /v1/read``: the number written in one image, digit by digit."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from service import inference
from service.deps import inference_for
from service.inputs.bodies import read_one, tensors, to_number
from service.routes.docs import INFERENCE_QUERY, errors, image_body
from service.schemas import ReadResponse

router = APIRouter(prefix="/v1", tags=["inference"])


@router.post(
    "/read",
    summary="Read a number: its digits left to right, each with its box",
    response_model=ReadResponse,
    openapi_extra={**image_body(batch=False, arrays=False), "parameters": INFERENCE_QUERY},
    responses=errors(400, 404, 413, 415, 422, 503),
)
async def read_number(request: Request) -> Response:
    """A photo of a number written in a row (a house number, a year, up to a dozen digits):
    each digit is found, read as ``/v1/predict`` reads one, and returned left to right."""
    job = inference_for(request)
    item = await read_one(request, max_batch=job.settings.max_batch_size)
    found = await to_number(item, max_pixels=job.settings.max_image_pixels)
    probabilities = await job.model.predict(job.backend, inference.network_input(tensors(found)))
    return Response(
        inference.number(job.model, job.backend, probabilities, found),
        media_type="application/json",
    )
