"""``/v2``: the Open Inference Protocol over REST (health, metadata, readiness, inference).

Model routes come with and without ``/versions/{version}``; a name other than the served
model's is 404, as is a version not served.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from service.api.dependencies import repository_of, termination_of
from service.api.examples import EXAMPLE_ARRAY, EXAMPLE_PNG_B64
from service.api.openapi import json_schema
from service.errors import NotFound
from service.observability.access_log import note
from service.runtime.version import ModelVersion
from service.v2 import inference, rest

router = APIRouter(prefix="/v2", tags=["open inference protocol (v2)"])

SERVER = {"name": "lenet-serve", "version": "1", "extensions": ["binary_tensor_data"]}
_HEADER_LENGTH = "Inference-Header-Content-Length"
_BINARY = {"type": "string", "format": "binary"}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": rest.InferenceErrorResponse} for status in statuses}


INFERRED: dict[int | str, dict[str, Any]] = {
    200: {
        "model": rest.InferenceResponse,
        "description": (
            "the outputs; with binary data, the JSON is the first "
            f"{_HEADER_LENGTH} bytes and binary tensors follow"
        ),
        "content": {"application/octet-stream": {"schema": _BINARY}},
        "headers": {
            _HEADER_LENGTH: {
                "description": "the JSON's length, when binary data follows it",
                "schema": {"type": "integer", "minimum": 0},
            }
        },
    },
    **errors(400, 404, 413, 415, 422, 503),
}


EXAMPLES = {
    "image": {
        "summary": "a 28×28 digit in MNIST form, as UINT8 gray levels: its digit",
        "value": {
            "inputs": [
                {"name": "image", "shape": [1, 28, 28], "datatype": "UINT8", "data": EXAMPLE_ARRAY}
            ],
            "outputs": [{"name": "digit"}],
        },
    },
    "image_bytes": {
        "summary": "a PNG, base64 (BYTES in JSON): its probabilities and box",
        "value": {
            "id": "example",
            "inputs": [
                {
                    "name": "image_bytes",
                    "shape": [1],
                    "datatype": "BYTES",
                    "data": [EXAMPLE_PNG_B64],
                }
            ],
            "outputs": [{"name": "probabilities"}, {"name": "box"}],
        },
    },
}


def infer_operation(*path_parameters: str) -> dict[str, Any]:
    """An infer route's OpenAPI: its body, and the path parameters it reads itself.

    ``Inference-Header-Content-Length`` is told in the body's description, not declared as a
    header parameter: what it may be depends on the body, which no schema can say, and a
    fuzzer that draws it at random never gets a body past it.
    """
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in path_parameters
    ]
    body = {
        "required": True,
        "description": (
            f"An inference request; with the binary tensor data extension, its JSON is the "
            f"first {_HEADER_LENGTH} bytes and binary tensors follow. Whether its inputs' "
            "names, datatypes, shapes and data agree, no schema can say: 400 and 422 answer. "
            "It may come gzip or deflate compressed, as its Content-Encoding says."
        ),
        "content": {
            "application/json": {
                "schema": json_schema(rest.InferenceRequest),
                "examples": EXAMPLES,
            },
            "application/octet-stream": {"schema": _BINARY},
        },
    }
    return {"requestBody": body, "parameters": parameters}


def model_for(request: Request, name: str, version: str | None = None) -> ModelVersion:
    served = repository_of(request).get(version)
    if name != served.name:
        raise NotFound(f"unknown model {name!r}; this server serves {served.name!r}")
    return served


# Inference first: routes are tried in the order they are declared, and it is the one
# that runs on every request (the others are probes and metadata).
@router.post(
    "/models/{name}/infer",
    summary="Inference",
    openapi_extra=infer_operation("name"),
    responses=INFERRED,
)
@router.post(
    "/models/{name}/versions/{version}/infer",
    summary="Inference on one version",
    openapi_extra=infer_operation("name", "version"),
    responses=INFERRED,
)
async def model_infer(request: Request) -> Response:
    """Its path parameters are read here, not declared: FastAPI's validation of them, one
    parameter at a time, costs more on every request than the lookup they are for."""
    path = request.path_params
    model = model_for(request, path["name"], path.get("version"))
    settings = request.app.state.settings
    query, inputs = rest.read_request(
        await request.body(),
        request.headers.get(rest.HEADER_LENGTH),
        settings.max_images_per_request,
    )
    runner = model.runner(query.parameters.backend)
    note(
        request.scope,
        batch_size=inputs[0].shape[0] if inputs and inputs[0].shape else 0,
        backend=runner.name,
        version=model.version,
    )
    wanted = [output.name for output in query.outputs]
    outputs = await inference.infer(settings, model, runner, inputs, wanted)
    content, header_length = rest.write_response(query, model.name, model.version, outputs)
    if header_length is None:
        return Response(content, media_type="application/json")
    return Response(
        content,
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(header_length)},
    )


@router.get("", summary="Server metadata")
async def server_metadata() -> dict[str, Any]:
    return SERVER


@router.get("/health/live", summary="The server is alive")
async def server_live() -> dict[str, bool]:
    return {"live": True}


@router.get(
    "/health/ready",
    summary="A model version is loaded and warmed up, and no stop signal has come",
    responses=errors(503),
)
async def server_ready(request: Request) -> dict[str, bool]:
    termination_of(request).raise_if_signalled()
    repository_of(request).get()  # 503 until then
    return {"ready": True}


@router.get(
    "/models/{name}",
    summary="Model metadata: inputs, outputs, versions",
    responses=errors(404, 503),
)
@router.get(
    "/models/{name}/versions/{version}",
    summary="One version's metadata",
    responses=errors(404, 503),
)
async def model_metadata(request: Request, name: str, version: str | None = None) -> Any:
    model = model_for(request, name, version)
    return inference.metadata(model, repository_of(request).versions())


@router.get("/models/{name}/ready", summary="The model is ready", responses=errors(404, 503))
@router.get(
    "/models/{name}/versions/{version}/ready",
    summary="That version is ready",
    responses=errors(404, 503),
)
async def model_ready(request: Request, name: str, version: str | None = None) -> Any:
    model = model_for(request, name, version)
    return {"name": model.name, "ready": True}
