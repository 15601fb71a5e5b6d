"""The Open Inference Protocol's REST bodies: JSON, and the binary tensor data extension.

With the extension a body is a JSON header of ``Inference-Header-Content-Length`` bytes,
then each binary tensor's raw little-endian bytes in the order the header lists them (an
input's or output's ``parameters.binary_data_size`` says how many are its). Triton's and
KServe's clients send inputs that way by default, and ask for outputs that way with
``binary_data``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from service.errors import BadRequest, InvalidInput
from service.inputs.arrays import check_json_values
from service.v2 import tensors
from service.v2.inference import Input, Output, check_parameters, encoded_at_most, images_in

HEADER_LENGTH = "inference-header-content-length"


class InputParameters(BaseModel):
    """An input's parameters: the protocol's own, typed; any other is kept and ignored."""

    model_config = ConfigDict(extra="allow")
    binary_data_size: StrictInt | None = Field(
        default=None, ge=0, description="with binary data: how many of its bytes are this input's"
    )


class OutputParameters(BaseModel):
    model_config = ConfigDict(extra="allow")
    binary_data: StrictBool | None = Field(
        default=None, description="answer it as binary data; else as the request's default"
    )


class RequestParameters(BaseModel):
    model_config = ConfigDict(extra="allow")
    binary_data_output: StrictBool | None = Field(
        default=None, description="answer every output as binary data unless it says not"
    )
    backend: str | None = Field(
        default=None, description="lenet-serve's own: tensorflow, numpy or onnx, as /v1's ?backend="
    )


class RequestInput(BaseModel):
    name: str
    shape: list[StrictInt]
    datatype: str
    parameters: InputParameters = Field(default_factory=InputParameters)
    data: Any = None


class RequestOutput(BaseModel):
    name: str
    parameters: OutputParameters = Field(default_factory=OutputParameters)


class InferenceRequest(BaseModel):
    """``POST /v2/models/{name}/infer``'s JSON (its header, with binary data). Typed where
    the protocol says what a field holds: a shape of ``"1"`` or ``true``, or ``binary_data:
    "false"``, is refused, not taken for what it might have meant."""

    id: str | None = None
    parameters: RequestParameters = Field(default_factory=RequestParameters)
    inputs: list[RequestInput]
    outputs: list[RequestOutput] = Field(default_factory=list)


class ResponseOutput(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    data: list[Any] | None = Field(default=None, description="flat, in row-major order")
    parameters: dict[str, Any] | None = Field(
        default=None, description="binary_data_size: its bytes after the JSON, when binary"
    )


class InferenceResponse(BaseModel):
    """The answer's JSON (its header, with binary data); documentation only: it is written
    with orjson straight from the outputs (``write_response``)."""

    model_name: str
    model_version: str
    id: str | None = Field(default=None, description="the request's, when it had one")
    outputs: list[ResponseOutput]


class InferenceErrorResponse(BaseModel):
    """The protocol's error shape, for every error under ``/v2``."""

    error: str


def read_request(
    body: bytes, header_length: str | None, max_images: int
) -> tuple[InferenceRequest, list[Input]]:
    """A request body → the request and its inputs, decoded. An input of more than
    ``max_images`` images is refused before any of its data is."""
    header, binary = _split(body, header_length)
    check_json_values(header, max_images)
    try:
        request = InferenceRequest.model_validate(orjson.loads(header))
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request is not valid JSON: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise InvalidInput(f"not an inference request: {problems}") from exc
    for output in request.outputs:
        check_parameters(f"output {output.name}", output.parameters.model_extra or {})
    offset, inputs = 0, []
    for given in request.inputs:
        check_parameters(f"input {given.name}", given.parameters.model_extra or {})
        images_in(given.shape, max_images)
        size = given.parameters.binary_data_size
        if size is not None and given.data is not None:  # as over gRPC: which is the data?
            raise InvalidInput(f"input {given.name}: data and binary_data_size both given")
        if size is not None:
            if offset + size > len(binary):
                raise InvalidInput(f"input {given.name}: binary_data_size past the body's end")
            inputs.append(_from_binary(given, binary[offset : offset + size], max_images))
            offset += size
        else:
            inputs.append(_from_json(given, max_images))
    if offset != len(binary):
        raise InvalidInput(f"{len(binary) - offset} bytes of binary data belong to no input")
    return request, inputs


def write_response(
    request: InferenceRequest, model: str, version: int, outputs: list[Output]
) -> tuple[bytes, int | None]:
    """The response body and, when it carries binary data, its JSON header's length."""
    binary_default = bool(request.parameters.binary_data_output)  # None: not asked
    binary_asked = {
        o.name: binary_default if o.parameters.binary_data is None else o.parameters.binary_data
        for o in request.outputs
    }
    described, blobs = [], []
    for output in outputs:
        entry: dict[str, Any] = {
            "name": output.name,
            "datatype": output.datatype,
            "shape": list(output.values.shape),
        }
        if binary_asked.get(output.name, binary_default):
            blob = np.ascontiguousarray(output.values, tensors.DTYPES[output.datatype]).tobytes()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = output.values.ravel()
        described.append(entry)
    answer: dict[str, Any] = {"model_name": model, "model_version": str(version)}
    if request.id is not None:
        answer["id"] = request.id
    answer["outputs"] = described
    header = orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)
    return header + b"".join(blobs), (len(header) if blobs else None)


def _split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    # ASCII digits, and few: str.isdigit takes "²", and int() refuses it and 4,301 digits
    number = header_length.isascii() and header_length.isdigit() and len(header_length) < 20
    if not number or int(header_length) > len(body):
        raise BadRequest(f"Inference-Header-Content-Length {header_length!r} does not fit the body")
    return body[: int(header_length)], body[int(header_length) :]


def _from_binary(given: RequestInput, raw: bytes, max_images: int) -> Input:
    if given.datatype == "BYTES":
        most = encoded_at_most(given.shape, max_images)
        return Input(given.name, given.datatype, given.shape, tensors.split_bytes(raw, most))
    dtype = tensors.DTYPES.get(given.datatype)
    if dtype is None:
        raise InvalidInput(f"input {given.name}: unknown datatype {given.datatype}")
    if len(raw) % dtype.itemsize:
        raise InvalidInput(f"input {given.name}: {len(raw)} bytes is no whole {given.datatype}s")
    return Input(given.name, given.datatype, given.shape, np.frombuffer(raw, dtype))


def _from_json(given: RequestInput, max_images: int) -> Input:
    """``data`` flat or nested, as the protocol allows; ``BYTES`` elements in JSON are
    base64 (an encoded image is no text)."""
    if given.data is None:
        raise InvalidInput(
            f"input {given.name}: no data; send data, or binary_data_size and its bytes "
            "after the JSON"
        )
    if given.datatype == "BYTES":
        elements = _flat(given.data, given.shape, encoded_at_most(given.shape, max_images))
        try:
            decoded = [base64.b64decode(e, validate=True) for e in elements]
        except TypeError as exc:
            raise InvalidInput(f"input {given.name}: BYTES in JSON are base64 strings") from exc
        except (binascii.Error, ValueError) as exc:  # 400, as /v1's b64
            raise BadRequest(f"input {given.name}: BYTES not valid base64: {exc}") from exc
        return Input(given.name, given.datatype, given.shape, decoded)
    dtype = tensors.DTYPES.get(given.datatype)
    if dtype is None:
        raise InvalidInput(f"input {given.name}: unknown datatype {given.datatype}")
    if not isinstance(given.data, list):
        raise InvalidInput(f"input {given.name}: data is a list (flat or nested)")
    try:  # NumPy walks nested lists of numbers in C; anything else ends up another kind
        values = np.asarray(given.data)
    except ValueError as exc:  # ragged
        raise InvalidInput(f"input {given.name}: data must be numbers, evenly nested") from exc
    if values.dtype.kind not in "iuf":
        raise InvalidInput(f"input {given.name}: {given.datatype} data must be numbers")
    if values.dtype.kind == "f" and dtype.kind != "f" and (values % 1).any():  # lost in NumPy
        raise InvalidInput(f"input {given.name}: {given.datatype} data must be whole numbers")
    return Input(given.name, given.datatype, given.shape, values.ravel())


def _flat(data: Any, shape: list[int], most: int) -> list[Any]:
    """Nested lists → one flat list of at most ``most`` elements (what ``shape`` holds, or
    fewer); anything but lists of scalars is refused. The walk runs in Python on the event
    loop, a few million items a second, so it stops once it has seen more than that: the
    elements, and at most as many lists a level (``images_in`` has bounded the levels)."""
    if not isinstance(data, list):
        raise InvalidInput("an input's data is a list (flat or nested)")
    budget = (len(shape) + 1) * most
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            budget -= 1
            if budget < 0 or len(flat) == most:
                raise InvalidInput(
                    f"an input's data holds more than its shape {shape} and the limit on "
                    f"images allow: {most} elements"
                )
            if isinstance(item, list):
                stack.append(iter(item))
                break
            if isinstance(item, dict) or item is None:
                raise InvalidInput("an input's data holds only numbers (or strings for BYTES)")
            flat.append(item)
        else:
            stack.pop()
    return flat
