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
CODINGS = {"gzip": gzip.compress, "deflate": zlib.compress}


@pytest.mark.parametrize("coding", sorted(CODINGS))
async def test_a_compressed_json_body_is_read_inflated(client, coding):
    response = await client.post(
        "/v1/predict",
        content=CODINGS[coding](DIGITS),
        headers={"Content-Encoding": coding, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert [p["digit"] for p in response.json()["predictions"]] == [EXAMPLE_DIGIT] * 2


async def test_a_compressed_body_may_come_in_many_parts(client):
    """Chunked: each part inflated as it arrives, the stream's end checked at the body's."""
    compressed = gzip.compress(DIGITS)

    async def parts() -> AsyncIterator[bytes]:
        for start in range(0, len(compressed), 100):
            yield compressed[start : start + 100]

    response = await client.post(
        "/v1/predict",
        content=parts(),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text


async def test_another_coding_is_415_naming_those_read(client):
    response = await client.post("/v1/predict", content=DIGITS, headers={"Content-Encoding": "br"})
    assert response.status_code == 415
    assert response.headers["accept-encoding"] == "gzip, deflate"
    error = response.json()["error"]
    assert error["code"] == "unsupported_media_type" and "'br' is not read here" in error["message"]


@pytest.mark.parametrize(
    ("content", "status", "words"),
    [
        (b"{}", 400, "not what its Content-Encoding says"),
        (gzip.compress(DIGITS)[:-8], 400, "not one whole stream"),
        (gzip.compress(DIGITS) + b"more", 400, "not one whole stream"),
        (gzip.compress(b" " * (65 * 1024)), 413, "inflates past the limit of 65536 bytes"),
    ],
    ids=["not-gzip", "truncated", "trailing", "bomb"],
)
async def test_a_body_that_does_not_inflate_within_the_limit_is_refused(
    strict_client, content, status, words
):
    response = await strict_client.post(
        "/v1/predict",
        content=content,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert response.status_code == status, response.text
    assert words in response.json()["error"]["message"]
