"""``POST /v1/predict``: digits for one image or a batch."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from service import inference
from service.deps import inference_for
from service.inputs.bodies import read_inputs, tensors, to_digits
from service.routes.docs import INFERENCE_QUERY, errors, image_body
from service.schemas import PredictResponse

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
    inputs = await read_inputs(request, max_batch=job.settings.max_batch_size)
    found = await to_digits(inputs, job.preprocess, max_pixels=job.settings.max_image_pixels)
    probabilities = await job.model.predict(job.backend, inference.network_input(tensors(found)))
    return Response(
        inference.predictions(job.model, job.backend, probabilities, found),
        media_type="application/json",
    )
