"""The page's files over HTTP: served at / and under a digest, cached as the docstring of
``service.web`` says, from this origin only, and kept out of the API's OpenAPI document."""

from __future__ import annotations

import re

import pytest

from service.web import STATIC
from tests.service.conftest import page_files

pytestmark = pytest.mark.anyio


async def files_named(client) -> tuple[str, list[str]]:
    """The prefix the page names and the URL of every file in ``service/web/static``."""
    prefix = page_files((await client.get("/")).text)
    return prefix, [f"{prefix}/{path.name}" for path in sorted(STATIC.iterdir())]


async def test_the_page_is_served_at_the_root_and_revalidated_each_time(client):
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    again = await client.get("/", headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_what_the_page_loads_is_cached_for_a_year_under_its_digest(client):
    _, urls = await files_named(client)
    assert any(url.endswith("/main.js") for url in urls)
    for url in urls:
        response = await client.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        kind = {"js": "text/javascript", "css": "text/css"}[url.rsplit(".", 1)[1]]
        assert response.headers["content-type"].startswith(kind)


async def test_the_page_needs_nothing_from_another_origin(client):
    _, urls = await files_named(client)
    for text in [(await client.get("/")).text] + [(await client.get(url)).text for url in urls]:
        assert not re.search(r"https?://|//[a-z]", text)


async def test_files_of_another_digest_or_none_get_the_json_404(client):
    prefix, _ = await files_named(client)
    for url in (f"{prefix}/missing.js", "/page/000000000000/main.js"):
        response = await client.get(url)
        assert response.status_code == 404
        assert response.json()["error"]["status"] == 404


async def test_the_page_stays_out_of_the_api_document(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/" not in paths and not any(path.startswith("/page") for path in paths)


@pytest.mark.parametrize("range_", ["foo", "bytes=99999-", "bytes=0-10", "bytes=0-1,5-9"])
async def test_a_range_is_ignored_every_file_answered_whole(client, range_):
    """As the model's curves.png: Starlette answers a Range it cannot serve in plain text,
    outside the JSON error shape, and the files are too small for ranges to save anything."""
    prefix, _ = await files_named(client)
    response = await client.get(f"{prefix}/main.js", headers={"range": range_})
    assert response.status_code == 200
    assert response.content == (STATIC / "main.js").read_bytes()
    assert "content-range" not in response.headers and "accept-ranges" not in response.headers
