"""Request bodies → digits to read (28×28 tensors and boxes), apart from the routes.

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

from service.errors import (
    BadRequest,
    InvalidInput,
    NoDigit,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from service.inputs import arrays, images, ink, photos
from service.inputs.images import Picture
from service.inputs.photos import Digit
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
_NO_INK = "nothing on it stands out from the paper (or board) as a written digit does"
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


async def read_one(request: Request, *, max_batch: int) -> RawInput:
    """The body's single image or array; 422 for a batch."""
    inputs = await read_inputs(request, max_batch=max_batch)
    if len(inputs) != 1:
        raise InvalidInput(f"send exactly one image, not {len(inputs)}")
    return inputs[0]


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


async def to_digits(
    inputs: list[RawInput], preprocess: Preprocess | None, *, max_pixels: int
) -> list[Digit]:
    """One digit per input, in order: its MNIST-form tensor, and its box in an image; on the
    event loop only if small. ``NoDigit`` names an input that shows none."""
    if len(inputs) <= INLINE_MAX_INPUTS and all(map(_is_small, inputs)):
        return _read_all(inputs, preprocess, max_pixels)
    return await run_in_threadpool(_read_all, inputs, preprocess, max_pixels)


async def to_number(item: RawInput, *, max_pixels: int) -> list[Digit]:
    """The digits of the number an image shows, left to right, in a worker thread."""
    if not isinstance(item, bytes):
        raise InvalidInput("send a photo of a number, not an array: a 28x28 array is one digit")

    def read() -> list[Digit]:
        number = photos.read_number(_decode(item, max_pixels))
        if not number:
            raise NoDigit(f"the image shows no digit: {_NO_INK}")
        return number

    return await run_in_threadpool(read)


def tensors(digits: list[Digit]) -> np.ndarray:
    """(N, 28, 28) float32 gray levels 0–255, light on dark."""
    return np.stack([digit.tensor for digit in digits])


def _read_all(
    inputs: list[RawInput], preprocess: Preprocess | None, max_pixels: int
) -> list[Digit]:
    """``to_digits``'s work, blocking."""
    found = []
    for index, item in enumerate(inputs):
        digit = _read(item, preprocess, max_pixels)
        if digit is None:
            which = "the image" if len(inputs) == 1 else f"input {index + 1} of {len(inputs)}"
            raise NoDigit(f"{which} shows no digit: {_NO_INK}")
        found.append(digit)
    return found


def _is_small(item: RawInput) -> bool:
    """A plain 28×28 JSON array of numbers, or a PNG file of at most ``INLINE_MAX_BYTES``
    whose IHDR chunk (first in every PNG, where Pillow too reads the size) declares at most
    ``INLINE_MAX_PIXELS``: the bytes bound what is checksummed and inflated (extra chunks
    included), the pixels what is normalised. Anything else goes to a thread."""
    if not isinstance(item, bytes):
        return arrays.is_plain_28x28(item)
    if not 24 <= len(item) <= INLINE_MAX_BYTES or not item.startswith(_PNG_SIGNATURE):
        return False
    width, height = struct.unpack(">II", item[16:24])
    return width * height <= INLINE_MAX_PIXELS


def _read(item: RawInput, preprocess: Preprocess | None, max_pixels: int) -> Digit | None:
    if isinstance(item, bytes):
        picture = _decode(item, max_pixels)
        return (
            photos.as_is(picture) if preprocess is Preprocess.none else photos.read_digit(picture)
        )
    array = arrays.validate_array(item)
    if preprocess is not Preprocess.mnist:
        return Digit(array)
    found = photos.read_digit(Picture(np.round(array).astype(np.uint8), array.shape[::-1]))
    return None if found is None else Digit(found.tensor)


def _decode(data: bytes, max_pixels: int) -> Picture:
    return images.decode_image(data, max_pixels=max_pixels, at_least=ink.WORKING_SIDE)
