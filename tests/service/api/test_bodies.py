"""service.api.bodies under arbitrary bodies (hypothesis): whatever the content type and
bytes, a /v1 body becomes its inputs, and those the network's input, or the request is
refused with one of the service's own 4xx errors."""

from __future__ import annotations

import asyncio
import base64
import json

from hypothesis import example, given
from hypothesis import strategies as st
from starlette.requests import Request

from service.api.bodies import read_inputs
from service.inputs.pixel_limits import ImageLimits
from service.inputs.prepare import RawInput, to_digits
from tests.service.fuzzing import BYTES, JSON, grids, only_client_errors

MAX_IMAGES = 4
BOUNDARY = "fuzz"
INSTANCE = JSON | grids() | BYTES.map(lambda data: {"b64": base64.b64encode(data).decode()})
DOCUMENTS = JSON | st.fixed_dictionaries({"instances": st.lists(INSTANCE, max_size=6)})
DEPTHS = st.sampled_from([9, 1024, 1025, 50_000]) | st.integers(1, 50_000)  # orjson stops at 1024
DEEP = DEPTHS.map(lambda depth: b'{"instances": ' + b"[" * depth + b"]" * depth + b"}")
JSON_BODIES = (
    DOCUMENTS.map(lambda document: json.dumps(document).encode())  # NaN, Infinity too
    | DEEP
    | st.binary(max_size=256)
)


@st.composite
def multipart_bodies(draw: st.DrawFn) -> bytes:
    """Parts as a browser sends them (files, text fields), then maybe damaged."""
    parts = []
    for index in range(draw(st.integers(0, MAX_IMAGES + 1))):
        if draw(st.booleans()):
            disposition = f'form-data; name="f{index}"; filename="{index}.png"'
            content = draw(BYTES)
        else:
            disposition = f'form-data; name="field{index}"'
            content = draw(st.text(max_size=16)).encode()
        parts.append(f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode())
        parts.append(content + b"\r\n")
    body = b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(body)))
        body = body[:cut] + draw(st.binary(max_size=16))
    return body


CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/vnd.api+json",
        "image/png",
        "image/jpeg",
        "image/gif",
        "text/plain",
        "",
    ]
)


def request_with(body: bytes, content_type: str) -> Request:
    """An ASGI request as the app sees it."""

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    headers = [(b"content-type", content_type.encode("latin-1"))] if content_type else []
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/predict",
        "headers": headers,
        "query_string": b"",
    }
    return Request(scope, receive)


async def read_and_prepare(body: bytes, content_type: str) -> None:
    inputs: list[RawInput] = await read_inputs(
        request_with(body, content_type), max_images=MAX_IMAGES
    )
    assert 1 <= len(inputs) <= MAX_IMAGES
    assert all(item for item in inputs if isinstance(item, bytes))  # no empty image
    digits = await to_digits(inputs, None, limits=ImageLimits(10**6, 10**6, 10**6))
    assert digits.images.shape == (len(inputs), 28, 28, 1)


@given(JSON_BODIES | BYTES, CONTENT_TYPES)
@example(b'{"instances": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "application/json")  # was 500
def test_any_body_is_read_or_refused_with_a_client_error(body: bytes, content_type: str) -> None:
    with only_client_errors():
        asyncio.run(read_and_prepare(body, content_type))


@given(
    multipart_bodies() | st.binary(max_size=256),
    st.sampled_from([f"multipart/form-data; boundary={BOUNDARY}", "multipart/form-data"]),
)
def test_any_multipart_body_is_read_or_refused_with_a_client_error(
    body: bytes, content_type: str
) -> None:
    with only_client_errors():
        asyncio.run(read_and_prepare(body, content_type))
