"""Served under a prefix (``uvicorn service.app:app --root-path /lenet`` behind a proxy that
strips ``/lenet``): uvicorn puts the prefix in the scope's ``root_path`` and keeps it at the
front of ``path``, as httpx's ``ASGITransport(root_path=...)`` does here. What decides by
path beside the router (the error shape, the paths open without a key, the request metrics;
admission in test_admission) decides as the router does, on the path without the prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import ValidationError

from service.app import create_app
from service.paths import app_path
from service.settings import Settings
from tests.service.conftest import MODEL_ROOT, page_files, started
from tests.service.observability.scraping import moved, scrape

pytestmark = pytest.mark.anyio

PREFIX = "/lenet"
KEY = "alice-0123456789abcdef"


def prefixed(app: FastAPI) -> httpx.AsyncClient:
    """A client of ``app`` served under PREFIX: its paths are the app's own, PREFIX added."""
    transport = httpx.ASGITransport(app=app, root_path=PREFIX)
    return httpx.AsyncClient(transport=transport, base_url=f"http://test{PREFIX}")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with prefixed(app) as http:
        yield http


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ({"path": "/v2/models/lenet"}, "/v2/models/lenet"),
        ({"path": "/v2/models/lenet", "root_path": ""}, "/v2/models/lenet"),
        ({"path": "/lenet/v2/models/lenet", "root_path": "/lenet"}, "/v2/models/lenet"),
        ({"path": "/lenet", "root_path": "/lenet"}, ""),
        ({"path": "/lenetx/v2", "root_path": "/lenet"}, "/lenetx/v2"),  # not under it
        ({"path": "/elsewhere", "root_path": "/lenet"}, "/elsewhere"),
        # Routed into a mount (the page's files): the mount's prefix has joined root_path.
        (
            {
                "path": "/lenet/page/a/main.js",
                "root_path": "/lenet/page/a",
                "app_root_path": "/lenet",
            },
            "/page/a/main.js",
        ),
        (
            {"path": "/page/a/main.js", "root_path": "/page/a", "app_root_path": ""},
            "/page/a/main.js",
        ),
    ],
)
def test_the_app_path_is_the_path_without_the_prefix_it_is_served_under(scope, expected):
    assert app_path(scope) == expected


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/v2/models/lenet/infer", b"{not json", 400),
        ("POST", "/v2/models/nope/infer", b"{}", 404),
        ("GET", "/v2/models/lenet/versions/9", None, 404),
        ("GET", "/v2/no/such/thing", None, 404),
    ],
)
async def test_v2_errors_keep_the_protocols_shape(client, method, path, body, status):
    response = await client.request(method, path, content=body)
    assert response.status_code == status
    assert isinstance(response.json()["error"], str), response.text


async def test_v1_errors_keep_theirs(client):
    response = await client.post("/v1/predict?backend=nope", json={"instances": []})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"


async def test_requests_are_counted_by_the_apps_templates_and_protocols(client):
    before = await scrape(client)
    files = page_files((await client.get("/")).text)
    assert (await client.get(f"{files}/main.js")).status_code == 200
    assert (await client.get("/v1/activations/conv1.png")).status_code == 200
    assert (await client.post("/v2/models/lenet/infer", content=b"{}")).status_code == 422
    assert (await client.get("/v2/no/such/thing")).status_code == 404
    assert (await client.get("/docs")).status_code == 200
    after = await scrape(client)
    for protocol, route, status in [
        ("v1", "/", "200"),
        ("v1", f"{files}/{{path}}", "200"),
        ("v1", "/v1/activations/{layer}.png", "200"),
        ("v2", "/v2/models/{name}/infer", "422"),
        ("v2", "unmatched", "404"),
        ("v1", "/docs", "200"),
    ]:
        labels = {"protocol": protocol, "route": route, "status": status}
        assert moved(before, after, "lenet_requests_total", **labels) == 1, labels
    assert not any(PREFIX in str(labels) for name, labels in after if name.startswith("lenet_"))


@pytest.fixture(scope="module")
async def keyed_app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    keys = tmp_path_factory.mktemp("keys") / "api-keys"
    keys.write_text(f"{KEY}\n")
    app = create_app(Settings(model_root=MODEL_ROOT, backends=["onnx"], api_keys_file=keys))
    async with LifespanManager(app):
        await started(app)
        yield app


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/v2/health/ready", "/", "/docs"])
async def test_the_probes_page_and_docs_stay_open(keyed_app: FastAPI, path: str):
    async with prefixed(keyed_app) as client:
        assert (await client.get(path)).status_code == 200


async def test_the_api_stays_closed_and_answers_in_its_protocols_shape(keyed_app: FastAPI):
    async with prefixed(keyed_app) as client:
        v1 = await client.get("/v1/model")
        v2 = await client.get("/v2/models/lenet")
        keyed = await client.get("/v2/models/lenet", headers={"Authorization": f"Bearer {KEY}"})
    assert v1.status_code == v2.status_code == 401
    assert v1.json()["error"]["code"] == "unauthorized"
    assert "Authorization: Bearer <key>" in v2.json()["error"]
    assert keyed.status_code == 200


def test_the_prefix_is_read_as_lenet_root_path(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LENET_ROOT_PATH", "/models/lenet")
    assert Settings().root_path == "/models/lenet"


@pytest.mark.parametrize("prefix", ["lenet", "/lenet/", "/", "/le net", "/lenet?x", "//lenet"])
def test_a_prefix_that_is_not_one_fails_start_up(prefix: str):
    with pytest.raises(ValidationError, match="LENET_ROOT_PATH: .* is not a path prefix"):
        Settings(root_path=prefix)
