"""``POST /v1/predict``: digits for one image or a batch."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from service import inference
from service.decoding import read_inputs, to_tensors
from service.deps import BackendQuery, ModelDep, PreprocessQuery, SettingsDep
from service.routes.docs import errors, image_body
from service.schemas import PredictResponse

router = APIRouter(prefix="/v1", tags=["inference"])


@router.post(
    "/predict",
    summary="Recognise digits",
    response_model=PredictResponse,
    openapi_extra=image_body(batch=True),
    responses=errors(400, 404, 413, 415, 422, 503),
)
async def predict_digits(
    request: Request,
    model: ModelDep,
    settings: SettingsDep,
    backend: BackendQuery = None,
    preprocess: PreprocessQuery = None,
) -> Response:
    """One prediction per image, in request order."""
    chosen = model.backend(backend)
    inputs = await read_inputs(request, max_batch=settings.max_batch_size)
    tensors = await to_tensors(inputs, preprocess, max_pixels=settings.max_image_pixels)
    probabilities = await model.predict(chosen, inference.network_input(tensors))
    return Response(
        inference.predictions(model, chosen, probabilities), media_type="application/json"
    )
