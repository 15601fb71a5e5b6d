"""``POST /v1/predict``: digits for one image or a batch."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from service.api import responses
from service.api.bodies import read_inputs
from service.api.contracts import PredictResponse
from service.api.dependencies import inference_for
from service.api.openapi import INFERENCE_QUERY, errors, image_body
from service.inputs.pixel_limits import ImageLimits
from service.inputs.prepare import to_digits
from service.observability.access_log import note

router = APIRouter(prefix="/v1", tags=["inference"])


@router.post(
    "/predict",
    summary="Recognise digits",
    response_model=PredictResponse,
    openapi_extra={**image_body(batch=True), "parameters": INFERENCE_QUERY},
    responses=errors(400, 404, 413, 415, 422, 503),
)
async def predict_digits(request: Request) -> Response:
    """One prediction per image, in request order; images also say where their digit is."""
    job = inference_for(request)
    inputs = await read_inputs(request, max_images=job.settings.max_images_per_request)
    note(request.scope, batch_size=len(inputs), backend=job.runner.name, version=job.model.version)
    digits = await to_digits(inputs, job.preprocess, limits=ImageLimits.of(job.settings))
    probabilities = await job.runner.predict(digits.images, digits.viewed)
    return Response(
        responses.predictions(job.model, job.runner.name, probabilities, digits.boxes),
        media_type="application/json",
    )
