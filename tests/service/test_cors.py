"""CORS (LENET_CORS_ORIGINS): off by default; on, only the named origins, with the API's
own methods and headers, a preflight that needs no key, and refusals in the one shape."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import ValidationError

from service.app import create_app
from service.settings import Settings
from tests.service.conftest import MODEL_ROOT, client_for, started

pytestmark = pytest.mark.anyio

ORIGIN = "https://digits.example.org"
KEY = "alice-0123456789abcdef"


def preflight(origin: str, method: str = "POST", headers: str = "authorization,content-type"):
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


@pytest.fixture(scope="module")
async def cors_client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    """Keys on as well: a preflight must get through without one."""
    keys = tmp_path_factory.mktemp("keys") / "api-keys"
    keys.write_text(f"{KEY}\n")
    settings = Settings(
        model_root=MODEL_ROOT,
        backends=["onnx"],
        api_keys_file=keys,
        cors_origins=[ORIGIN, "http://localhost:5173"],
    )
    app = create_app(settings)
    async with LifespanManager(app), client_for(app) as client:
        await started(app)
        yield client


async def test_off_by_default_no_origin_is_allowed(client):
    response = await client.get("/v1/model", headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert not any(name.startswith("access-control-") for name in response.headers)
    refused = await client.options("/v1/predict", headers=preflight(ORIGIN))
    assert refused.status_code == 405  # no CORS: a preflight is an OPTIONS like any other


@pytest.mark.parametrize("path", ["/v1/predict", "/v2/models/lenet/infer"])
async def test_a_preflight_from_an_allowed_origin_needs_no_key(cors_client, path):
    response = await cors_client.options(path, headers=preflight(ORIGIN))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-methods"] == "GET, HEAD, POST, OPTIONS"
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert {
        "authorization",
        "content-type",
        "x-request-id",
        "inference-header-content-length",
    } <= allowed


@pytest.mark.parametrize(
    ("path", "headers", "refused"),
    [
        ("/v1/predict", preflight("https://evil.example"), "origin"),
        ("/v1/predict", preflight(ORIGIN, method="DELETE"), "method"),
        ("/v1/predict", preflight(ORIGIN, headers="x-secret"), "headers"),
        ("/v2/models/lenet/infer", preflight("https://evil.example"), "origin"),
    ],
)
async def test_a_refused_preflight_answers_400_in_the_one_shape(
    cors_client, path, headers, refused
):
    response = await cors_client.options(path, headers=headers)
    assert response.status_code == 400
    error = response.json()["error"]
    message = error if path.startswith("/v2") else error["message"]
    assert message == f"Disallowed CORS {refused}"
    if refused == "origin":
        assert "access-control-allow-origin" not in response.headers


async def test_answers_to_an_allowed_origin_expose_the_apis_headers(cors_client):
    response = await cors_client.get(
        "/v1/model", headers={"Origin": ORIGIN, "Authorization": f"Bearer {KEY}"}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    exposed = {h.strip() for h in response.headers["access-control-expose-headers"].split(",")}
    assert exposed == {"X-Request-ID", "Retry-After", "Inference-Header-Content-Length"}
    assert "access-control-allow-credentials" not in response.headers  # a header, no cookie


async def test_a_401_reaches_the_allowed_origins_page_readable(cors_client):
    response = await cors_client.post("/v1/predict", headers={"Origin": ORIGIN})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.json()["error"]["code"] == "unauthorized"


async def test_another_origin_gets_no_allowance(cors_client):
    response = await cors_client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    assert "Origin" in response.headers["vary"]


@pytest.mark.parametrize(
    "origin", ["https://digits.example.org/", "digits.example.org", "https://a.example/app"]
)
def test_an_origin_with_a_path_or_no_scheme_is_refused(origin: str) -> None:
    with pytest.raises(ValidationError, match="is not an origin"):
        Settings(cors_origins=[origin])


def test_the_origins_are_read_as_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LENET_CORS_ORIGINS", f'["{ORIGIN}", "http://localhost:5173"]')
    assert Settings().cors_origins == [ORIGIN, "http://localhost:5173"]
    monkeypatch.setenv("LENET_CORS_ORIGINS", '["*"]')
    assert Settings().cors_origins == ["*"]


def test_keys_and_origins_unset_by_default() -> None:
    settings = Settings()
    assert (settings.api_keys_file, settings.cors_origins, settings.metrics_require_key) == (
        None,
        [],
        False,
    )
