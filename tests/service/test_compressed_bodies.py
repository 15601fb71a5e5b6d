"""Request bodies sent compressed (``Content-Encoding: gzip`` or ``deflate``): every route
reads them inflated, under the same body limit, which holds for what they inflate to; any
other coding is refused (415) before the body is read. (/v2's own, with tritonclient's
``request_compression_algorithm``: tests/service/v2/.)"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import AsyncIterator

import pytest

from service.api.examples import EXAMPLE_ARRAY, EXAMPLE_DIGIT

pytestmark = pytest.mark.anyio

DIGITS = json.dumps({"instances": [EXAMPLE_ARRAY] * 2}).encode()
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("coding", "content"),
    [
        ("gzip", gzip.compress(DIGITS)),
        ("deflate", zlib.compress(DIGITS)),
        ("x-gzip", gzip.compress(DIGITS)),  # RFC 9110: read as gzip
        ("GZip, identity", gzip.compress(DIGITS)),
        ("gzip", gzip.compress(DIGITS[:100]) + gzip.compress(DIGITS[100:])),  # two members
    ],
    ids=["gzip", "deflate", "x-gzip", "list", "members"],
)
async def test_a_compressed_json_body_is_read_inflated(client, coding, content):
    headers = {**JSON, "Content-Encoding": coding}
    response = await client.post("/v1/predict", content=content, headers=headers)
    assert response.status_code == 200, response.text
    assert [p["digit"] for p in response.json()["predictions"]] == [EXAMPLE_DIGIT] * 2


async def test_a_compressed_body_may_come_in_many_parts(client):
    """Chunked: each part inflated as it arrives, the stream's end checked at the body's."""
    compressed = gzip.compress(DIGITS)

    async def parts() -> AsyncIterator[bytes]:
        for start in range(0, len(compressed), 100):
            yield compressed[start : start + 100]

    headers = {**JSON, "Content-Encoding": "gzip"}
    response = await client.post("/v1/predict", content=parts(), headers=headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ([("Content-Encoding", "br")], "br"),
        ([("Content-Encoding", "gzip, gzip")], "gzip, gzip"),  # coded twice
        ([("Content-Encoding", "br"), ("Content-Encoding", "identity")], "br"),
    ],
    ids=["br", "twice", "two-headers"],
)
async def test_another_coding_is_415_naming_those_read(client, headers, named):
    response = await client.post("/v1/predict", content=DIGITS, headers=headers)
    assert response.status_code == 415
    assert response.headers["accept-encoding"] == "gzip, deflate"
    error = response.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert f"{named!r} is not read here" in error["message"]


async def test_a_request_without_a_body_is_not_refused_for_its_coding(client):
    assert (await client.get("/healthz", headers={"Content-Encoding": "br"})).status_code == 200


@pytest.mark.parametrize(
    ("coding", "content", "status", "words"),
    [
        ("gzip", b"{}", 400, "not what its Content-Encoding says"),
        ("gzip", gzip.compress(DIGITS)[:-8], 400, "ends inside the stream"),
        ("gzip", gzip.compress(DIGITS) + b"more", 400, "not what its Content-Encoding says"),
        ("deflate", zlib.compress(DIGITS) + b"more", 400, "past the end of its deflate stream"),
        ("gzip", gzip.compress(b" " * (65 * 1024)), 413, "inflates past the limit of 65536"),
        ("gzip", gzip.compress(b" " * 40_000) * 2, 413, "inflates past the limit of 65536"),
    ],
    ids=["not-gzip", "truncated", "trailing", "deflate-trailing", "bomb", "bomb-in-members"],
)
async def test_a_body_that_does_not_inflate_within_the_limit_is_refused(
    strict_client, coding, content, status, words
):
    headers = {**JSON, "Content-Encoding": coding}
    response = await strict_client.post("/v1/predict", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]["message"]
