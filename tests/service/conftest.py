"""An app per test session on the bundled model, driven through httpx like a client would."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from service.app import create_app
from service.settings import Settings
from tests.bundled import MODEL_ROOT

# No gRPC server unless a test asks for one on a port of its own: every app and process the
# tests start would otherwise bind the default port (reuse-port lets them all succeed).
os.environ.setdefault("LENET_GRPC_PORT", "0")


# The property tests (tests/service/fuzzing.py): a bounded number of examples, the same on
# every run, so that the suite stays fast and CI repeatable; HYPOTHESIS_PROFILE=deep
# explores many more, afresh each time.
settings.register_profile(
    "ci",
    max_examples=100,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "deep", parent=settings.get_profile("ci"), max_examples=5000, derandomize=False
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
BACKENDS = ["tensorflow", "numpy", "onnx"]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


async def started(app: FastAPI, timeout: float = 60) -> None:
    """Wait until the background load has finished (the app answers 503 until then)."""
    repository = app.state.repository
    for _ in range(int(timeout / 0.05)):
        if repository.ready:
            return
        assert repository.error is None, repository.error
        await asyncio.sleep(0.05)
    raise TimeoutError("the model did not load")


def page_files(page: str) -> str:
    """Where the page's HTML says its files are: ``/page/<digest>``, from its relative URL."""
    match = re.search(r'src="(page/[0-9a-f]{12})/main\.js"', page)
    assert match, page
    return f"/{match.group(1)}"


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture(scope="session")
async def app() -> AsyncIterator[FastAPI]:
    application = create_app(Settings(model_root=MODEL_ROOT, backends=BACKENDS))
    async with LifespanManager(application):
        await started(application)
        yield application


@pytest.fixture(scope="session")
async def strict_app() -> AsyncIterator[FastAPI]:
    """Tight limits, to reach every 413 with small requests."""
    settings = Settings(
        model_root=MODEL_ROOT,
        backends=["numpy"],
        max_body_bytes=64 * 1024,
        max_image_pixels=1_000_000,
        max_request_pixels=2_000_000,
        max_images_per_request=3,
        max_header_bytes=4096,
    )
    application = create_app(settings)
    async with LifespanManager(application):
        await started(application)
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http


@pytest.fixture
async def strict_client(strict_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(strict_app) as http:
        yield http
