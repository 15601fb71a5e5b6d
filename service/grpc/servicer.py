"""``GRPCInferenceService``'s calls, on the messages Triton publishes (``tritonclient`` ships
them generated from its ``grpc_service.proto``): translated to and from ``service.v2``.

Implemented: ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata and
ModelInfer (typed ``contents`` or ``raw_input_contents`` in; ``raw_output_contents`` out,
as Triton answers). Every other method of the service answers UNIMPLEMENTED, saying so.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import grpc
import numpy as np
from google.protobuf.message import DecodeError
from google.protobuf.message_factory import GetMessageClass
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

SERVICE = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
DEADLINE_SLACK_S = 0.1
"""A call cancelled this close to its deadline ran out of time: the client's copy of the
deadline ends it a network delay before the server's, which counts from the call's arrival."""
PUSHBACK = "grpc-retry-pushback-ms"
"""gRPC's server pushback trailer: how long a client should wait before it retries."""
MAX_DETAILS = 1024
"""Characters of an error's message sent as the status details. A message may repeat what
the client sent (a model's name, an input's); past a client's metadata limit (grpcio's: 16
KiB, percent-encoded) the client would get RESOURCE_EXHAUSTED in place of the error."""

CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    503: grpc.StatusCode.UNAVAILABLE,
}
"""The service's HTTP statuses as gRPC status codes."""
_CONTENTS = {  # datatype → the typed contents field that carries it (FP16 has none)
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
_FIELDS = sorted(set(_CONTENTS.values()))
HANDLERS = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}
"""grpc's handler for a method, by whether its requests and its responses stream."""


@dataclass(frozen=True)
class Unreadable:
    """A request whose bytes are not the method's message. Raised from the deserialiser, the
    error would end the call before any method ran, as UNKNOWN ("Unexpected <class
    'DecodeError'>"), and uncounted; handed to the method, it is refused and counted."""

    message: str


def reader(message: Any) -> Callable[[bytes], Any]:
    """The deserialiser of ``message`` (a generated class) that answers ``Unreadable``."""

    def read(data: bytes) -> Any:
        try:
            return message.FromString(data)
        except DecodeError:
            return Unreadable(f"the request is not a protobuf {message.DESCRIPTOR.full_name}")

    return read


def add_to_server(servicer: InferenceServicer, server: grpc.aio.Server) -> None:
    """What ``service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server`` does, from the
    same descriptor, but with ``reader``'s deserialisers."""
    handlers = {
        method.name: HANDLERS[(method.client_streaming, method.server_streaming)](
            getattr(servicer, method.name),
            request_deserializer=reader(GetMessageClass(method.input_type)),
            response_serializer=GetMessageClass(method.output_type).SerializeToString,
        )
        for method in SERVICE.methods
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE.full_name, handlers),)
    )
    server.add_registered_method_handlers(SERVICE.full_name, handlers)


def observed(method: Call, *, reads: bool = True) -> Call:
    """Count and time the call in the request metrics, as the HTTP middleware does a
    request: route = the method's full name, status = the gRPC status code's name. An
    ``Unreadable`` request is refused before ``method`` sees it, unless it ``reads`` none."""
    route = f"/inference.GRPCInferenceService/{method.__name__}"

    @functools.wraps(method)
    async def call(self: InferenceServicer, request: Any, context: Any) -> Any:
        started = perf_counter()
        status = "OK"  # unless a code is set (``context.abort`` sets one, then raises)
        try:
            if reads and isinstance(request, Unreadable):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
            return await method(self, request, context)
        except asyncio.CancelledError:  # grpc cancels the handler; it sets no code
            remaining = context.time_remaining()  # None without a deadline
            late = remaining is not None and remaining < DEADLINE_SLACK_S
            status = "DEADLINE_EXCEEDED" if late else "CANCELLED"
            raise
        except BaseException:
            status = "UNKNOWN"  # what grpc answers for an exception that escapes
            raise
        finally:
            if self._settings.metrics:
                code = context.code()
                observe_request(
                    "grpc", route, status if code is None else code.name, perf_counter() - started
                )

    return call


def _unimplemented(name: str) -> Call:
    """A method that refuses its call in words (the base class's default says "Unexpected
    <class 'NotImplementedError'>") and is counted like the rest. Unary or stream-stream
    alike: a coroutine handler never reads its request (iterator)."""

    async def refuse(self: InferenceServicer, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"lenet-serve does not implement {name}")

    refuse.__name__ = name
    return observed(refuse, reads=False)


def _refusing_the_rest(cls: type[InferenceServicer]) -> type[InferenceServicer]:
    """Give ``cls`` an ``_unimplemented`` method for each of ``SERVICE``'s that it lacks:
    the methods Triton adds to the service later are refused as well."""
    for method in SERVICE.methods:
        if method.name not in vars(cls):
            setattr(cls, method.name, _unimplemented(method.name))
    return cls


@_refusing_the_rest
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
            for given in request.inputs:
                inference.check_parameters(f"input {given.name}", given.parameters)
            for output in request.outputs:
                inference.check_parameters(f"output {output.name}", output.parameters)
            outputs = await inference.infer(
                self._settings,
                model,
                runner,
                _inputs(request, self._settings.max_images_per_request),
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


def _inputs(request: Any, max_images: int) -> list[inference.Input]:
    """The request's inputs, decoded; one of more than ``max_images`` images is refused
    before any of its data is."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise InvalidInput(f"{len(raw)} raw_input_contents for {len(request.inputs)} inputs")
    decoded = []
    for index, given in enumerate(request.inputs):
        if given.datatype != "BYTES" and given.datatype not in tensors.DTYPES:
            raise InvalidInput(f"input {given.name}: unknown datatype {given.datatype}")
        if raw and given.HasField("contents"):  # as Triton: which would be the data?
            raise InvalidInput(
                f"input {given.name}: contents and raw_input_contents both given; send one"
            )
        shape = list(given.shape)
        inference.images_in(shape, max_images)
        most = inference.encoded_at_most(shape, max_images)
        values = _raw(given, raw[index], most) if raw else _typed(given, shape)
        decoded.append(inference.Input(given.name, given.datatype, shape, values))
    return decoded


def _raw(given: Any, raw: bytes, most: int) -> np.ndarray | list[bytes]:
    """An input's raw contents as its datatype's elements: a view, no copy, or for BYTES
    at most ``most`` elements."""
    if given.datatype == "BYTES":
        return tensors.split_bytes(raw, most)
    dtype = tensors.DTYPES[given.datatype]
    if len(raw) % dtype.itemsize:
        raise InvalidInput(f"input {given.name}: raw contents are no whole {given.datatype}s")
    return np.frombuffer(raw, dtype)


def _typed(given: Any, shape: list[int]) -> np.ndarray | list[bytes]:
    """An input's typed contents, counted against its shape before they are converted: a
    request may carry millions of values, and converting them holds up the event loop."""
    field = _CONTENTS.get(given.datatype)
    if field is None:
        raise InvalidInput(
            f"input {given.name}: {given.datatype} has no typed contents field; "
            "send raw_input_contents"
        )
    values = getattr(given.contents, field)
    expected = tensors.element_count(shape)
    if len(values) != expected:
        other = next((name for name in _FIELDS if getattr(given.contents, name)), None)
        if not values and other is not None:
            raise InvalidInput(
                f"input {given.name}: {given.datatype} values go in {field}, not {other}"
            )
        raise InvalidInput(
            f"input {given.name}: shape {shape} holds {expected} values; {field} has {len(values)}"
        )
    if given.datatype == "BYTES":
        return list(values)
    return np.asarray(values, np.float64)


def _string(parameters: Any, name: str) -> str | None:
    if name not in parameters:
        return None
    if parameters[name].WhichOneof("parameter_choice") != "string_param":
        raise InvalidInput(f"parameter {name} is a string")
    value: str = parameters[name].string_param
    return value


async def _abort(context: Any, error: ServiceError) -> None:
    retry_after = (error.headers or {}).get("Retry-After")
    if retry_after is not None:  # seconds, as the service's errors give it
        context.set_trailing_metadata(((PUSHBACK, str(int(retry_after) * 1000)),))
    code = CODES.get(error.status_code, grpc.StatusCode.INTERNAL)
    await context.abort(code, _clipped(error.message, MAX_DETAILS))


def _clipped(message: str, most: int) -> str:
    """``message`` within ``most`` characters: its middle cut out, since the end often says
    what to do (``this server serves 'lenet'``)."""
    if len(message) <= most:
        return message
    half = (most - 1) // 2
    return f"{message[:half]}…{message[len(message) - half :]}"
