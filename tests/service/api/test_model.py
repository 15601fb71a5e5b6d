"""/v1/model, health probes and the OpenAPI docs."""

from __future__ import annotations

import asyncio
import shutil

import pytest
from asgi_lifespan import LifespanManager

from model.spec import LAYER_NAMES
from service.api.examples import EXAMPLE_ARRAY
from service.app import create_app
from service.settings import Settings
from tests.service.conftest import MODEL_ROOT, client_for, started

pytestmark = pytest.mark.anyio


async def test_model_summary_lists_layers_and_61706_parameters(client):
    response = await client.get("/v1/model")
    assert response.status_code == 200
    summary = response.json()
    assert summary["total_parameters"] == summary["trainable_parameters"] == 61_706
    assert summary["input_shape"] == [28, 28, 1]
    assert [layer["name"] for layer in summary["layers"]] == list(LAYER_NAMES)
    params = [layer["parameters"] for layer in summary["layers"]]
    assert params == [156, 0, 2416, 0, 48120, 0, 10164, 850]
    conv1, conv3 = summary["layers"][0], summary["layers"][4]
    assert conv1["kernel_size"] == [5, 5] and conv1["padding"] == "same"
    assert conv1["activation"] == "tanh" and conv1["output_shape"] == [28, 28, 6]
    assert conv3["strides"] == [3, 3] and conv3["padding"] == "valid"
    assert summary["layers"][-1]["activation"] == "softmax"
    assert summary["versions"] == ["1"] and summary["version"] == "1"
    assert set(summary["backends"]) == {"tensorflow", "numpy", "onnx"}
    assert summary["default_backend"] == "onnx" and "fastest" in summary["default_backend_reason"]


async def test_model_summary_shows_each_loaded_versions_blessing(client):
    summary = (await client.get("/v1/model")).json()
    assert summary["default_version"] == "1" and summary["blessing"]["status"] == "blessed"
    assert summary["blessing"]["reason"].startswith("the bundled version")
    (only,) = summary["loaded"]
    assert only["version"] == "1" and only["default"] and only["test_accuracy"] >= 0.993
    assert only["blessing"] == summary["blessing"] and only["test_samples"] == 10_000


async def test_model_summary_carries_the_model_card(client):
    card = (await client.get("/v1/model")).json()["card"]
    assert card["test_accuracy"] >= 0.993
    assert card["recipe"]["name"] == "best" and card["version"] == 1
    assert "trained_at" in card


async def test_the_training_curves_are_served_as_png(client):
    response = await client.get("/v1/model/curves.png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == (MODEL_ROOT / "1" / "curves.png").read_bytes()
    missing = await client.get("/v1/model/curves.png?version=9")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("byte_range", ["bytes=x", "items=0-1", "bytes=999999999-", "bytes=0-9"])
async def test_the_curves_are_served_whole_whatever_range_is_asked(client, byte_range):
    """A picture of tens of kilobytes: a Range is ignored (RFC 9110 allows it), rather
    than refused in plain text outside the error shape."""
    response = await client.get("/v1/model/curves.png", headers={"Range": byte_range})
    assert response.status_code == 200
    assert response.content == (MODEL_ROOT / "1" / "curves.png").read_bytes()


async def test_health_probes(client):
    assert (await client.get("/healthz")).json() == {"status": "alive"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}


async def test_docs_and_openapi_are_served(client):
    assert (await client.get("/docs")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    content = spec["paths"]["/v1/predict"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "image/png", "application/json"} <= set(content)


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/v1/predict", "post"),
        ("/v1/activations", "post"),
        ("/v1/activations/{layer}.png", "post"),
        ("/v1/activations/{layer}.png", "get"),
        ("/v1/explain", "post"),
        ("/v1/explain.png", "post"),
    ],
)
async def test_the_inference_query_parameters_are_documented(client, path, method):
    spec = (await client.get("/openapi.json")).json()
    parameters = {p["name"]: p for p in spec["paths"][path][method]["parameters"]}
    assert {"backend", "version", "preprocess"} <= set(parameters)
    backend = parameters["backend"]
    assert backend["in"] == "query" and not backend["required"] and backend["description"]
    assert {"tensorflow", "numpy", "onnx"} <= set(backend["schema"]["anyOf"][0]["enum"])
    assert parameters["preprocess"]["schema"]["anyOf"][0]["enum"] == ["mnist", "none"]
    assert "#/$defs/" not in str(spec["paths"][path][method]["parameters"])  # none dangling


@pytest.mark.parametrize("path", ["/v1/predict", "/v1/activations", "/v1/explain"])
async def test_the_openapi_examples_work_when_pasted(client, path):
    spec = (await client.get("/openapi.json")).json()
    examples = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["examples"]
    for example in examples.values():
        response = await client.post(path, json=example["value"])
        assert response.status_code == 200, response.text


async def test_a_new_version_is_picked_up_without_restart(tmp_path):
    root = tmp_path / "lenet"
    root.mkdir()
    shutil.copytree(MODEL_ROOT / "1", root / "1")
    app = create_app(Settings(model_root=root, backends=["numpy"], poll_seconds=0.05))
    async with LifespanManager(app), client_for(app) as client:
        await started(app)
        assert (await client.get("/v1/model")).json()["versions"] == ["1"]
        shutil.copytree(MODEL_ROOT / "1", root / ".tmp-2-staging")
        (root / ".tmp-2-staging").rename(root / "2")  # as the training job publishes
        for _ in range(200):
            if app.state.repository.versions() == [2]:
                break
            await asyncio.sleep(0.05)
        summary = (await client.get("/v1/model")).json()
        assert summary["version"] == "2" and summary["versions"] == ["2"]
        response = await client.post("/v1/predict", json={"instances": [EXAMPLE_ARRAY]})
        assert response.json()["version"] == "2"
