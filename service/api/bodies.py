"""``/v1`` request bodies → their inputs (image bytes or JSON arrays), in request order.

Multipart files, a raw ``image/*`` body, or TF Serving's JSON ``{"instances": [...]}`` with
28×28 arrays or ``{"b64": ...}`` images. What the inputs hold is ``service.inputs``' job.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import sys
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import orjson
from fastapi import Request
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from service.api.contracts import B64Image, PredictRequest
from service.errors import BadRequest, InvalidInput, PayloadTooLarge, UnsupportedMediaType
from service.inputs.arrays import check_json_values
from service.inputs.prepare import RawInput

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
_predict_request = TypeAdapter(PredictRequest)


async def read_inputs(request: Request, *, max_images: int) -> list[RawInput]:
    """Split the body into its images or arrays, in request order, by content type."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        inputs: list[RawInput] = await _read_multipart(request, max_images)
    elif media_type in IMAGE_TYPES:
        inputs = [await request.body()]
    elif media_type == "application/json" or media_type.endswith("+json"):
        inputs = _read_json(await request.body(), max_images)
    else:
        accepted = "multipart/form-data, application/json, " + ", ".join(sorted(IMAGE_TYPES))
        raise UnsupportedMediaType(
            f"content type {media_type or '(none)'!r} is not accepted; send one of: {accepted}"
        )
    if not inputs or any(isinstance(item, bytes) and not item for item in inputs):
        raise BadRequest("the request holds no image or an empty one")
    _check_count(len(inputs), max_images)
    return inputs


async def read_one(request: Request, *, max_images: int) -> RawInput:
    """The body's single image or array; 422 for a batch."""
    inputs = await read_inputs(request, max_images=max_images)
    if len(inputs) != 1:
        raise InvalidInput(f"send exactly one image, not {len(inputs)}")
    return inputs[0]


class WholeMultipart(MultiPartParser):
    """Starlette's parser (what ``request.form()`` runs), refusing a body that ends before
    its closing boundary: python-multipart then drops the part still open without a word,
    and a batch would be answered short of an image. It stops at the first file part past
    ``max_images`` with the batch limit's 413: Starlette's own ``max_files`` stops with a
    400, and past it, each further tiny part costs a spooled file (99,000 took 3.1 s)."""

    ended = False
    spool_max_size = sys.maxsize
    """Files stay in memory, never spooled to disk: the body limit bounds them already, and
    a container's /tmp is a small tmpfs (memory too) that three 20 MiB uploads at once
    filled past Starlette's 1 MiB threshold, each further part then a 500 (ENOSPC)."""

    def __init__(
        self, headers: Headers, stream: AsyncGenerator[bytes, None], *, max_images: int
    ) -> None:
        super().__init__(headers, stream, max_files=math.inf, max_fields=1_000)
        self.max_images = max_images
        self.files = 0

    def on_part_end(self) -> None:
        super().on_part_end()
        if isinstance(self.items[-1][1], UploadFile):
            self.files += 1
            if self.files > self.max_images:
                raise PayloadTooLarge(
                    f"more than {self.max_images} images in one request; "
                    f"the limit is {self.max_images}"
                )

    def on_end(self) -> None:
        self.ended = True

    async def parse(self) -> FormData:
        form = await super().parse()
        if not self.ended:
            await form.close()
            raise MultiPartException(
                "it ends before its closing boundary (a part cut short, or none at all)"
            )
        return form


async def _read_multipart(request: Request, max_images: int) -> list[RawInput]:
    try:
        async with aclosing(request.stream()) as stream:
            form = await WholeMultipart(request.headers, stream, max_images=max_images).parse()
    except MultiPartException as exc:  # no boundary, a part without a name, cut short, ...
        raise BadRequest(f"the multipart body is malformed: {exc.message}") from exc
    try:
        uploads = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
        if not uploads:
            raise InvalidInput("the multipart body has no file parts; send images as files")
        return [await upload.read() for upload in uploads]
    finally:
        await form.close()


def _check_count(count: int, max_images: int) -> None:
    if count > max_images:
        raise PayloadTooLarge(f"{count} images in one request; the limit is {max_images}")


def _read_json(body: bytes, max_images: int) -> list[RawInput]:
    check_json_values(body, max_images)
    document = _parse_json(body)
    instances = document.get("instances") if isinstance(document, dict) else None
    if isinstance(instances, list):  # counted before validating millions of tiny instances
        if len(instances) > max_images and isinstance(instances[0], int | float):
            # Not a batch too large: one image's gray levels, flattened (a 784 of them).
            raise InvalidInput(
                "instances holds numbers, not images: each instance is one image, a 28x28 "
                'array or {"b64": "..."}; a flat list of gray levels is one image unshaped'
            )
        _check_count(len(instances), max_images)
    try:
        request = _predict_request.validate_python(document)
    except ValidationError as exc:
        raise InvalidInput(_summarise(exc)) from exc
    return [
        _b64decode(item.b64) if isinstance(item, B64Image) else item for item in request.instances
    ]


def _parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:  # Python's json takes NaN and Infinity: let validation name them instead
            return json.loads(body)
        except RecursionError:  # it recurses once per level, where orjson stops at 1024
            raise BadRequest("the body is not valid JSON: nested too deep") from exc
        except ValueError:
            raise BadRequest(f"the body is not valid JSON: {exc}") from exc


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
