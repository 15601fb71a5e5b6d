"""Security headers on what a browser opens: the page and its files, and FastAPI's docs
routes say nosniff; the API's own answers carry no extra header (no middleware)."""

from __future__ import annotations

import pytest

from tests.service.conftest import page_files

pytestmark = pytest.mark.anyio


async def test_the_page_and_its_files_forbid_sniffing(client):
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    module = f"{page_files(page.text)}/main.js"
    for response in (
        await client.get(module),
        await client.get("/", headers={"if-none-match": page.headers["etag"]}),
    ):
        assert response.status_code in (200, 304)
        assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"])
async def test_the_docs_routes_forbid_sniffing(client, path):
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_the_api_answers_without_the_page_headers(client):
    response = await client.get("/v1/model")
    assert response.status_code == 200
    assert "x-content-type-options" not in response.headers
