"""Request bodies → 28×28 gray-level tensors, apart from the routes that call it.

Reading the body (async, cheap) is split from decoding images. A few small inputs (JSON
arrays, PNGs of at most ``INLINE_MAX_PIXELS``) are decoded right on the event loop: that
takes 0.1–0.2 ms (``bench/stages.py``), less than a round trip through a worker thread on a
busy 2-core machine.
Anything larger is decoded in a worker thread, so the event loop never decodes a photo.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from typing import Any

import numpy as np
import orjson
from fastapi import Request
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from service import images
from service.errors import BadRequest, InvalidInput, PayloadTooLarge, UnsupportedMediaType
from service.schemas import B64Image, PredictRequest, Preprocess

RawInput = bytes | list[Any]
"""Image bytes, or a JSON array of gray levels."""

IMAGE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/jpg",
        "image/bmp",
        "image/x-ms-bmp",
        "image/gif",
        "image/webp",
    }
)
INLINE_MAX_INPUTS = 4
INLINE_MAX_PIXELS = 64 * 64
INLINE_MAX_BYTES = 32 * 1024
"""Requests of at most ``INLINE_MAX_INPUTS`` arrays or PNGs this small decode on the loop."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_predict_request = TypeAdapter(PredictRequest)


async def read_inputs(request: Request, *, max_batch: int) -> list[RawInput]:
    """Split the body into its images or arrays, in request order, by content type."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        inputs: list[RawInput] = await _read_multipart(request)
    elif media_type in IMAGE_TYPES:
        inputs = [await request.body()]
    elif media_type == "application/json" or media_type.endswith("+json"):
        inputs = _read_json(await request.body())
    else:
        accepted = "multipart/form-data, application/json, " + ", ".join(sorted(IMAGE_TYPES))
        raise UnsupportedMediaType(
            f"content type {media_type or '(none)'!r} is not accepted; send one of: {accepted}"
        )
    if not inputs or any(isinstance(item, bytes) and not item for item in inputs):
        raise BadRequest("the request holds no image or an empty one")
    if len(inputs) > max_batch:
        raise PayloadTooLarge(f"{len(inputs)} images in one request; the limit is {max_batch}")
    return inputs


async def _read_multipart(request: Request) -> list[RawInput]:
    # max_files is a parser guard only: the batch limit is checked after, with a clear 413.
    form = await request.form(max_files=100_000, max_fields=1_000)
    try:
        uploads = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
        if not uploads:
            raise InvalidInput("the multipart body has no file parts; send images as files")
        return [await upload.read() for upload in uploads]
    finally:
        await form.close()


def _read_json(body: bytes) -> list[RawInput]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:  # Python's json takes NaN and Infinity: let validation name them instead
            document = json.loads(body)
        except ValueError:
            raise BadRequest(f"the body is not valid JSON: {exc}") from exc
    try:
        request = _predict_request.validate_python(document)
    except ValidationError as exc:
        raise InvalidInput(_summarise(exc)) from exc
    return [
        _b64decode(item.b64) if isinstance(item, B64Image) else item for item in request.instances
    ]


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f"an instance's b64 is not valid base64: {exc}") from exc


def _summarise(exc: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['msg']}"
        for error in exc.errors()[:5]
    ]
    return 'expected {"instances": [<28x28 array> | {"b64": "..."}, ...]}; ' + "; ".join(problems)


async def to_tensors(
    inputs: list[RawInput], preprocess: Preprocess | None, *, max_pixels: int
) -> np.ndarray:
    """(N, 28, 28) float32 gray levels 0–255, light on dark; on the loop only if small."""
    if len(inputs) <= INLINE_MAX_INPUTS and all(map(_is_small, inputs)):
        return _decode_all(inputs, preprocess, max_pixels=max_pixels)
    return await run_in_threadpool(_decode_all, inputs, preprocess, max_pixels=max_pixels)


def _decode_all(
    inputs: list[RawInput], preprocess: Preprocess | None, *, max_pixels: int
) -> np.ndarray:
    """``to_tensors``'s work, blocking."""
    return np.stack([_to_tensor(item, preprocess, max_pixels) for item in inputs])


def _is_small(item: RawInput) -> bool:
    """A plain 28×28 JSON array of numbers, or a PNG file of at most ``INLINE_MAX_BYTES``
    whose IHDR chunk (first in every PNG, where Pillow too reads the size) declares at most
    ``INLINE_MAX_PIXELS``: the bytes bound what is checksummed and inflated (extra chunks
    included), the pixels what is normalised. Anything else goes to a thread."""
    if not isinstance(item, bytes):
        return images.is_plain_28x28(item)
    if not 24 <= len(item) <= INLINE_MAX_BYTES or not item.startswith(_PNG_SIGNATURE):
        return False
    width, height = struct.unpack(">II", item[16:24])
    return width * height <= INLINE_MAX_PIXELS


def _to_tensor(item: RawInput, preprocess: Preprocess | None, max_pixels: int) -> np.ndarray:
    if isinstance(item, bytes):
        gray = images.to_grayscale(images.decode_image(item, max_pixels=max_pixels))
        return (
            images.resize_plain(gray)
            if preprocess is Preprocess.none
            else images.normalize_mnist(gray)
        )
    array = images.validate_array(item)
    return images.normalize_mnist(array) if preprocess is Preprocess.mnist else array
