"""HEAD is answered as GET is, without the content; a route without GET still refuses it."""

from __future__ import annotations

import pytest

from service.observability import answered
from tests.service.observability.scraping import moved, scrape

pytestmark = pytest.mark.anyio

GET_ROUTES = [
    "/healthz",
    "/readyz",
    "/v1/model",
    "/v1/activations/conv1.png",
    "/v2/health/live",
    "/v2/models/lenet",
    "/metrics",
    "/",
]


@pytest.mark.parametrize("path", GET_ROUTES)
async def test_head_answers_with_gets_status_and_headers(client, path):
    got, head = await client.get(path), await client.head(path)
    assert head.status_code == got.status_code == 200
    assert head.headers["content-type"] == got.headers["content-type"]
    if path != "/metrics":  # its figures move between the two requests
        assert head.headers["content-length"] == got.headers["content-length"]


async def test_a_route_without_get_refuses_head_and_says_what_it_allows(client):
    refused = await client.head("/v1/predict")
    assert refused.status_code == 405 and refused.headers["allow"] == "POST"
    assert (await client.delete("/healthz")).headers["allow"] == "GET, HEAD"


async def test_a_head_is_counted_under_its_routes_template(client):
    before = await scrape(client)
    await client.head("/v2/models/lenet")
    after = await scrape(client)
    labels = {"protocol": "v2", "route": "/v2/models/{name}", "status": "200"}
    assert moved(before, after, "lenet_requests_total", **labels) == 1


async def test_a_head_is_logged_as_a_head(client, caplog):
    answered.flush()
    caplog.set_level("INFO", logger="service.access")
    await client.head("/healthz", headers={"X-Request-ID": "head-1"})
    answered.flush()
    lines = [r.getMessage() for r in caplog.records if "head-1" in r.getMessage()]
    assert len(lines) == 1 and '"method":"HEAD"' in lines[0]
