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
from pydantic import BaseModel, Field, ValidationError

from service.errors import BadRequest, InvalidInput
from service.v2 import tensors
from service.v2.inference import Input, Output

HEADER_LENGTH = "inference-header-content-length"


class RequestInput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    data: Any = None


class RequestOutput(BaseModel):
    name: str
    parameters: dict[str, Any] = Field(default_factory=dict)


class InferenceRequest(BaseModel):
    """``POST /v2/models/{name}/infer``'s JSON (its header, with binary data)."""

    id: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
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


def read_request(body: bytes, header_length: str | None) -> tuple[InferenceRequest, list[Input]]:
    """A request body → the request and its inputs, decoded."""
    header, binary = _split(body, header_length)
    try:
        request = InferenceRequest.model_validate(orjson.loads(header))
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request is not valid JSON: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise InvalidInput(f"not an inference request: {problems}") from exc
    offset, inputs = 0, []
    for given in request.inputs:
        size = given.parameters.get("binary_data_size")
        if size is not None:
            if type(size) is not int or size < 0 or offset + size > len(binary):  # not a bool
                raise InvalidInput(f"input {given.name}: binary_data_size past the body's end")
            inputs.append(_from_binary(given, binary[offset : offset + size]))
            offset += size
        else:
            inputs.append(_from_json(given))
    if offset != len(binary):
        raise InvalidInput(f"{len(binary) - offset} bytes of binary data belong to no input")
    return request, inputs


def write_response(
    request: InferenceRequest, model: str, version: int, outputs: list[Output]
) -> tuple[bytes, int | None]:
    """The response body and, when it carries binary data, its JSON header's length."""
    binary_default = bool(request.parameters.get("binary_data_output", False))
    binary_asked = {
        o.name: bool(o.parameters.get("binary_data", binary_default)) for o in request.outputs
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


def _from_binary(given: RequestInput, raw: bytes) -> Input:
    if given.datatype == "BYTES":
        return Input(given.name, given.datatype, given.shape, tensors.split_bytes(raw))
    dtype = tensors.DTYPES.get(given.datatype)
    if dtype is None:
        raise InvalidInput(f"input {given.name}: unknown datatype {given.datatype}")
    if len(raw) % dtype.itemsize:
        raise InvalidInput(f"input {given.name}: {len(raw)} bytes is no whole {given.datatype}s")
    return Input(given.name, given.datatype, given.shape, np.frombuffer(raw, dtype))


def _from_json(given: RequestInput) -> Input:
    """``data`` flat or nested, as the protocol allows; ``BYTES`` elements in JSON are
    base64 (an encoded image is no text)."""
    if given.datatype == "BYTES":
        elements = _flat(given.data)
        try:
            decoded = [base64.b64decode(e, validate=True) for e in elements]
        except (binascii.Error, TypeError, ValueError) as exc:
            raise InvalidInput(f"input {given.name}: BYTES in JSON are base64 strings") from exc
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
    return Input(given.name, given.datatype, given.shape, values.ravel())


def _flat(data: Any) -> list[Any]:
    """Nested lists → one flat list; anything but lists of scalars is refused."""
    if not isinstance(data, list):
        raise InvalidInput("an input's data is a list (flat or nested)")
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            if isinstance(item, dict) or item is None:
                raise InvalidInput("an input's data holds only numbers (or strings for BYTES)")
            flat.append(item)
        else:
            stack.pop()
    return flat
