"""``GRPCInferenceService``'s calls, on the messages Triton publishes (``tritonclient`` ships
them generated from its ``grpc_service.proto``): translated to and from ``service.v2``.

Implemented: ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata and
ModelInfer (typed ``contents`` and ``raw_input_contents`` in; ``raw_output_contents`` out,
as Triton answers). The rest answer UNIMPLEMENTED, the base class's default.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

import grpc
import numpy as np
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc

from service.errors import InvalidInput, NotFound, ServiceError
from service.observability.metrics import observe_request
from service.runtime.repository import ModelRepository
from service.runtime.version import ModelVersion
from service.settings import Settings
from service.shutdown import Termination
from service.v2 import inference, tensors
from service.v2.routes import SERVER

logger = logging.getLogger(__name__)

Call = Callable[[Any, Any, Any], Awaitable[Any]]

CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    503: grpc.StatusCode.UNAVAILABLE,
}
"""The service's HTTP statuses as gRPC status codes."""
_CONTENTS = {  # datatype → the typed contents field that carries it
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def observed(method: Call) -> Call:
    """Count and time the call in the request metrics, as the HTTP middleware does a
    request: route = the method's full name, status = the gRPC status code's name."""
    route = f"/inference.GRPCInferenceService/{method.__name__}"

    @functools.wraps(method)
    async def call(self: InferenceServicer, request: Any, context: Any) -> Any:
        started = perf_counter()
        try:
            return await method(self, request, context)
        finally:
            if self._settings.metrics:
                code = context.code()  # None until the call aborts: it then answers OK
                status = "OK" if code is None else code.name
                observe_request("grpc", route, status, perf_counter() - started)

    return call


class InferenceServicer(service_pb2_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]
    def __init__(
        self, repository: ModelRepository, settings: Settings, termination: Termination
    ) -> None:
        self._repository = repository
        self._settings = settings
        self._termination = termination

    @observed
    async def ServerLive(self, request: Any, context: Any) -> Any:
        return pb.ServerLiveResponse(live=True)

    @observed
    async def ServerReady(self, request: Any, context: Any) -> Any:
        ready = self._repository.ready and not self._termination.signalled
        return pb.ServerReadyResponse(ready=ready)

    @observed
    async def ModelReady(self, request: Any, context: Any) -> Any:
        try:
            self._model(request.name, request.version)
        except ServiceError:
            return pb.ModelReadyResponse(ready=False)
        return pb.ModelReadyResponse(ready=True)

    @observed
    async def ServerMetadata(self, request: Any, context: Any) -> Any:
        return pb.ServerMetadataResponse(**SERVER)

    @observed
    async def ModelMetadata(self, request: Any, context: Any) -> Any:
        try:
            model = self._model(request.name, request.version)
        except ServiceError as exc:
            await _abort(context, exc)
        described = inference.metadata(model, self._repository.versions())
        return pb.ModelMetadataResponse(
            name=described["name"],
            versions=described["versions"],
            platform=described["platform"],
            inputs=[pb.ModelMetadataResponse.TensorMetadata(**t) for t in described["inputs"]],
            outputs=[pb.ModelMetadataResponse.TensorMetadata(**t) for t in described["outputs"]],
        )

    @observed
    async def ModelInfer(self, request: Any, context: Any) -> Any:
        try:
            model = self._model(request.model_name, request.model_version)
            runner = model.runner(_string(request.parameters, "backend"))
            outputs = await inference.infer(
                self._settings,
                model,
                runner,
                _inputs(request),
                [output.name for output in request.outputs],
            )
        except ServiceError as exc:
            await _abort(context, exc)
        except Exception:  # the client learns nothing of it, as over HTTP
            logger.exception("unhandled error in ModelInfer")
            await context.abort(grpc.StatusCode.INTERNAL, "internal server error")
        return pb.ModelInferResponse(
            model_name=model.name,
            model_version=str(model.version),
            id=request.id,
            outputs=[
                pb.ModelInferResponse.InferOutputTensor(
                    name=o.name, datatype=o.datatype, shape=list(o.values.shape)
                )
                for o in outputs
            ],
            raw_output_contents=[
                np.ascontiguousarray(o.values, tensors.DTYPES[o.datatype]).tobytes()
                for o in outputs
            ],
        )

    def _model(self, name: str, version: str) -> ModelVersion:
        served = self._repository.get(version or None)
        if name != served.name:
            raise NotFound(f"unknown model {name!r}; this server serves {served.name!r}")
        return served


def _inputs(request: Any) -> list[inference.Input]:
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise InvalidInput(f"{len(raw)} raw_input_contents for {len(request.inputs)} inputs")
    decoded = []
    for index, given in enumerate(request.inputs):
        shape, datatype = list(given.shape), given.datatype
        if datatype not in _CONTENTS:
            raise InvalidInput(f"input {given.name}: unknown datatype {datatype}")
        values: np.ndarray | list[bytes]
        if raw and datatype == "BYTES":
            values = tensors.split_bytes(raw[index])
        elif raw:
            dtype = tensors.DTYPES[datatype]
            if len(raw[index]) % dtype.itemsize:
                raise InvalidInput(f"input {given.name}: raw contents are no whole {datatype}s")
            values = np.frombuffer(raw[index], dtype)
        elif datatype == "BYTES":
            values = list(given.contents.bytes_contents)
        else:
            values = np.asarray(getattr(given.contents, _CONTENTS[datatype]), np.float64)
        decoded.append(inference.Input(given.name, datatype, shape, values))
    return decoded


def _string(parameters: Any, name: str) -> str | None:
    if name not in parameters:
        return None
    if parameters[name].WhichOneof("parameter_choice") != "string_param":
        raise InvalidInput(f"parameter {name} is a string")
    value: str = parameters[name].string_param
    return value


async def _abort(context: Any, error: ServiceError) -> None:
    await context.abort(CODES.get(error.status_code, grpc.StatusCode.INTERNAL), error.message)
