"""``/v2``: the Open Inference Protocol over REST (health, metadata, readiness, inference).

Model routes come with and without ``/versions/{version}``; a name other than the served
model's is 404, as is a version not served.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from service.api.dependencies import repository_of
from service.errors import InvalidInput, NotFound
from service.observability.access_log import note
from service.runtime.version import ModelVersion
from service.v2 import inference, rest

router = APIRouter(prefix="/v2", tags=["open inference protocol (v2)"])

SERVER = {"name": "lenet-serve", "version": "1", "extensions": ["binary_tensor_data"]}
INFER_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            "An inference request; with the binary tensor data extension, its JSON is the "
            "first Inference-Header-Content-Length bytes and binary tensors follow."
        ),
        "content": {
            "application/json": {"schema": rest.InferenceRequest.model_json_schema()},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def infer_operation(*path_parameters: str) -> dict[str, Any]:
    """An infer route's OpenAPI: its body, and the path parameters it reads itself."""
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in path_parameters
    ]
    return {**INFER_BODY, "parameters": parameters}


def model_for(request: Request, name: str, version: str | None = None) -> ModelVersion:
    served = repository_of(request).get(version)
    if name != served.name:
        raise NotFound(f"unknown model {name!r}; this server serves {served.name!r}")
    return served


# Inference first: routes are tried in the order they are declared, and it is the one
# that runs on every request (the others are probes and metadata).
@router.post("/models/{name}/infer", summary="Inference", openapi_extra=infer_operation("name"))
@router.post(
    "/models/{name}/versions/{version}/infer",
    summary="Inference on one version",
    openapi_extra=infer_operation("name", "version"),
)
async def model_infer(request: Request) -> Response:
    """Its path parameters are read here, not declared: FastAPI's validation of them, one
    parameter at a time, costs more on every request than the lookup they are for."""
    path = request.path_params
    model = model_for(request, path["name"], path.get("version"))
    body = await request.body()
    query, inputs = rest.read_request(body, request.headers.get(rest.HEADER_LENGTH))
    settings = request.app.state.settings
    backend = query.parameters.get("backend")  # lenet-serve's own, as /v1's ?backend=
    if backend is not None and not isinstance(backend, str):
        raise InvalidInput("parameters.backend names a backend: tensorflow, numpy or onnx")
    runner = model.runner(backend)
    note(
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


@router.get("/health/ready", summary="A model version is loaded and warmed up")
async def server_ready(request: Request) -> dict[str, bool]:
    repository_of(request).get()  # 503 until then
    return {"ready": True}


@router.get("/models/{name}", summary="Model metadata: inputs, outputs, versions")
@router.get("/models/{name}/versions/{version}", summary="One version's metadata")
async def model_metadata(request: Request, name: str, version: str | None = None) -> Any:
    model = model_for(request, name, version)
    return inference.metadata(model, repository_of(request).versions())


@router.get("/models/{name}/ready", summary="The model is ready")
@router.get("/models/{name}/versions/{version}/ready", summary="That version is ready")
async def model_ready(request: Request, name: str, version: str | None = None) -> Any:
    model = model_for(request, name, version)
    return {"name": model.name, "ready": True}
