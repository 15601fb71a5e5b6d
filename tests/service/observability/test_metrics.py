"""GET /metrics: the counters and histograms move with the traffic that should move them."""

from __future__ import annotations

import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI
from PIL import Image

from service.app import create_app
from service.observability.exposition import metrics_router
from service.observability.middleware import ObserveRequests
from service.runtime import views
from service.settings import Settings
from tests.service.conftest import MODEL_ROOT, client_for, page_files, started
from tests.service.drawing import draw_digit, encode
from tests.service.observability.scraping import moved, scrape, value

pytestmark = pytest.mark.anyio

SEVEN = encode(draw_digit(7), "PNG")
BLANK_SHEET = encode(Image.new("L", (200, 150), 235), "PNG")


def files(count: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("file", (f"{i}.png", SEVEN, "image/png")) for i in range(count)]


async def test_requests_are_counted_by_route_template_and_status(client):
    before = await scrape(client)
    assert (await client.post("/v1/predict", files=files(1))).status_code == 200
    assert (await client.post("/v1/predict?backend=nope", files=files(1))).status_code == 422
    assert (await client.get("/v1/activations/conv1.png")).status_code == 200
    assert (await client.get("/v1/no/such/thing")).status_code == 404
    after = await scrape(client)

    def requests(route: str, status: str) -> float:
        return moved(
            before, after, "lenet_requests_total", protocol="v1", route=route, status=status
        )

    assert requests("/v1/predict", "200") == 1
    assert requests("/v1/predict", "422") == 1
    assert requests("/v1/activations/{layer}.png", "200") == 1  # the template, not conv1.png
    assert requests("unmatched", "404") == 1
    assert not any(
        name == "lenet_requests_total" and "/v1/no" in str(labels) for name, labels in after
    )
    latency = {"protocol": "v1", "route": "/v1/predict"}
    assert moved(before, after, "lenet_request_duration_seconds_count", **latency) == 2
    assert moved(before, after, "lenet_request_duration_seconds_sum", **latency) > 0
    everything = {**latency, "le": "+Inf"}
    assert moved(before, after, "lenet_request_duration_seconds_bucket", **everything) == 2


async def test_the_page_and_its_files_are_counted_under_their_templates(client):
    before = await scrape(client)
    page = await client.get("/")
    files = page_files(page.text)
    assert (await client.get(f"{files}/main.js")).status_code == 200
    after = await scrape(client)
    for route in ("/", f"{files}/{{path}}"):
        labels = {"protocol": "v1", "route": route, "status": "200"}
        assert moved(before, after, "lenet_requests_total", **labels) == 1


async def test_a_route_included_under_a_prefix_is_counted_under_its_whole_template():
    """FastAPI reports a route as its own router declares it, without the prefix that
    ``include_router`` adds (the app's own routers declare theirs instead): the middleware
    puts that prefix back."""
    things = APIRouter(prefix="/v1")

    @things.get("/things/{name}")
    async def get_thing(name: str) -> dict[str, str]:
        return {"name": name}

    app = FastAPI()
    app.include_router(things, prefix="/included")
    app.include_router(metrics_router())
    app.add_middleware(ObserveRequests, router=app.router, count=True, log=False)
    async with client_for(app) as client:
        before = await scrape(client)
        assert (await client.get("/included/v1/things/a")).status_code == 200
        after = await scrape(client)
    labels = {"protocol": "v1", "route": "/included/v1/things/{name}", "status": "200"}
    assert moved(before, after, "lenet_requests_total", **labels) == 1


async def test_model_calls_are_observed_per_backend_and_version(client):
    labels = {"backend": "numpy", "version": "1"}
    before = await scrape(client)
    response = await client.post("/v1/predict?backend=numpy", files=files(3))
    assert response.status_code == 200
    after = await scrape(client)
    assert moved(before, after, "lenet_batch_size_count", **labels) == 1  # one call, 3 images
    # in rows: each drawn digit is cut out of its image, and read over its views
    assert moved(before, after, "lenet_batch_size_sum", **labels) == 3 * views.VIEWS
    assert moved(before, after, "lenet_inference_duration_seconds_count", **labels) == 1
    assert moved(before, after, "lenet_inference_duration_seconds_sum", **labels) > 0
    assert value(after, "lenet_queued_images", **labels) == 0  # nothing left waiting


async def test_no_digit_answers_and_decode_failures_are_counted(client):
    before = await scrape(client)
    blank = await client.post("/v1/predict", files={"f": ("blank.png", BLANK_SHEET, "image/png")})
    assert blank.json()["error"]["code"] == "no_digit"
    broken = await client.post("/v1/predict", files={"f": ("7.png", SEVEN[:40], "image/png")})
    assert broken.status_code == 400
    after = await scrape(client)
    assert moved(before, after, "lenet_no_digit_answers_total") == 1
    assert moved(before, after, "lenet_image_decode_failures_total") == 1


async def test_the_served_version_is_reported(client):
    assert value(await scrape(client), "lenet_model_version_loaded", version="1") >= 1


async def test_a_version_counts_as_loaded_only_while_served(client):
    settings = Settings(model_root=MODEL_ROOT, backends=["numpy"], poll_seconds=0)
    loaded = await scrape(client)
    app = create_app(settings)
    async with LifespanManager(app):
        await started(app)
        serving = await scrape(client)
    unloaded = await scrape(client)
    assert moved(loaded, serving, "lenet_model_version_loaded", version="1") == 1
    assert moved(loaded, unloaded, "lenet_model_version_loaded", version="1") == 0


async def test_with_metrics_off_nothing_is_counted_and_there_is_no_metrics_route(client):
    settings = Settings(
        model_root=MODEL_ROOT, backends=["numpy"], poll_seconds=0, metrics=False, access_log=False
    )
    before = await scrape(client)  # through the app that counts: the registry is shared
    app = create_app(settings)
    async with LifespanManager(app), client_for(app) as quiet:
        await started(app)
        response = await quiet.post("/v1/predict?backend=numpy", files=files(2))
        assert response.status_code == 200
        assert "x-request-id" not in response.headers
        assert (await quiet.get("/v1/nowhere")).status_code == 404
        assert (await quiet.get("/metrics")).status_code == 404
    after = await scrape(client)
    changed = {
        key: after[key] - before.get(key, 0.0)
        for key in after
        if key[0].startswith("lenet_") and after[key] != before.get(key, 0.0)
    }
    # Only the scrape itself, which the counting app answered, may have moved anything.
    assert all(("route", "/metrics") in labels for _, labels in changed), changed
