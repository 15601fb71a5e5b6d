"""service.api.openapi: the document describes this server as it answers (schemathesis
checks the whole of it against a real process in .ci/contract; these pin each fix)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.settings import Settings
from service.v2.routes import EXAMPLES
from tests.service.conftest import MODEL_ROOT, client_for, started

pytestmark = pytest.mark.anyio

IMAGE_ROUTES = [
    "/v1/predict",
    "/v1/read",
    "/v1/activations",
    "/v1/activations/{layer}.png",
    "/v1/explain",
    "/v1/explain.png",
]


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


async def document(client) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


async def test_every_reference_resolves_inside_the_document(client):
    spec = await document(client)
    found = set(refs(spec))
    assert found and all(ref.startswith("#/components/schemas/") for ref in found)
    assert {ref.rsplit("/", 1)[-1] for ref in found} <= set(spec["components"]["schemas"])


@pytest.mark.parametrize("path", IMAGE_ROUTES)
async def test_a_multipart_body_needs_a_file_part(client, path):
    body = (await document(client))["paths"][path]["post"]["requestBody"]
    multipart = body["content"]["multipart/form-data"]["schema"]
    assert multipart["required"] == ["file"]
    file = multipart["properties"]["file"]
    if path == "/v1/predict":  # a batch: the same part, repeated
        assert file["type"] == "array" and file["minItems"] == 1
    else:
        assert file["format"] == "binary"
    assert {"image/png", "image/jpeg", "image/bmp", "image/gif", "image/webp"} <= set(
        body["content"]
    )


@pytest.mark.parametrize(
    ("path", "batch", "arrays"), [("/v1/predict", True, True), ("/v1/read", False, False)]
)
async def test_json_instances_are_documented_as_each_route_takes_them(client, path, batch, arrays):
    body = (await document(client))["paths"][path]["post"]["requestBody"]
    instances = body["content"]["application/json"]["schema"]["properties"]["instances"]
    assert instances["minItems"] == 1 and ("maxItems" not in instances) == batch
    documented = str(instances["items"])
    assert ("'maxItems': 28" in documented) == arrays  # a 28x28 array of gray levels
    assert "'pattern': '^[A-Za-z0-9+/]*={0,2}$'" in documented  # {"b64": ...}


async def test_errors_are_documented_in_the_shape_each_api_answers_with(client):
    spec = await document(client)
    assert not {"HTTPValidationError", "ValidationError"} & set(spec["components"]["schemas"])
    for path, operations in spec["paths"].items():
        wanted = "InferenceErrorResponse" if path.startswith("/v2") else "ErrorResponse"
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": f"#/components/schemas/{wanted}"}, (path, status)


async def test_every_operation_with_a_body_declares_the_body_deadlines_408(client):
    spec = await document(client)
    posts = [ops["post"] for ops in spec["paths"].values() if "post" in ops]
    assert len(posts) == 8 and all("408" in post["responses"] for post in posts)


async def test_v2_errors_and_answers_are_documented(client):
    spec = await document(client)
    infer = spec["paths"]["/v2/models/{name}/infer"]["post"]
    assert {"200", "400", "404", "413", "422", "503"} <= set(infer["responses"])
    assert {"application/json", "application/octet-stream"} <= set(
        infer["responses"]["200"]["content"]
    )
    metadata = spec["paths"]["/v2/models/{name}"]["get"]
    assert {"404", "503"} <= set(metadata["responses"])


@pytest.mark.parametrize("example", list(EXAMPLES))
async def test_the_v2_examples_work_when_pasted(client, example):
    response = await client.post("/v2/models/lenet/infer", json=EXAMPLES[example]["value"])
    assert response.status_code == 200, response.text


async def test_a_layers_picture_names_the_layers(client):
    spec = await document(client)
    for operation in spec["paths"]["/v1/activations/{layer}.png"].values():
        (layer,) = [p for p in operation["parameters"] if p["name"] == "layer"]
        assert layer["schema"]["enum"][0] == "conv1" and layer["schema"]["enum"][-1] == "output"


async def test_a_path_served_with_two_methods_allows_both(client):
    response = await client.request("OPTIONS", "/v1/activations/conv1.png")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"
    assert response.json()["error"]["code"] == "method_not_allowed"
    put = await client.put("/v2/models/lenet/infer")
    assert put.status_code == 405 and put.headers["allow"] == "POST"
    assert isinstance(put.json()["error"], str)


async def test_only_the_backends_loaded_are_offered():
    app = create_app(Settings(model_root=MODEL_ROOT, backends=["numpy"]))
    async with LifespanManager(app), client_for(app) as client:
        await started(app)
        spec = await document(client)
        for path in IMAGE_ROUTES:
            parameters = spec["paths"][path]["post"]["parameters"]
            (backend,) = [p for p in parameters if p["name"] == "backend"]
            assert backend["schema"]["anyOf"][0]["enum"] == ["numpy"]
        response = await client.post("/v1/predict?backend=onnx", json={"instances": []})
        assert response.status_code == 422


async def keyed_document(**settings: Any) -> dict[str, Any]:
    app = create_app(Settings(model_root=MODEL_ROOT, backends=["onnx"], **settings))
    async with client_for(app) as client:  # no lifespan: the document needs no model
        return await document(client)


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("keys") / "api-keys"
    path.write_text("alice-0123456789abcdef\n")
    return path


OPEN_PATHS = {"/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/metrics"}


async def test_with_keys_the_closed_operations_declare_the_bearer_key_and_its_401(key_file):
    spec = await keyed_document(api_keys_file=key_file)
    (name, scheme), *others = spec["components"]["securitySchemes"].items()
    assert not others and name == "apiKey"
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert OPEN_PATHS <= set(spec["paths"])
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            if path in OPEN_PATHS:
                assert "security" not in operation and "401" not in operation["responses"]
                continue
            assert operation["security"] == [{"apiKey": []}], path
            assert "400" in operation["responses"], path  # Authorization sent twice
            refused = operation["responses"]["401"]
            assert "WWW-Authenticate" in refused["headers"]
            wanted = "InferenceErrorResponse" if path.startswith("/v2") else "ErrorResponse"
            schema = refused["content"]["application/json"]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{wanted}"}, path


async def test_with_metrics_closed_the_document_says_so(key_file):
    spec = await keyed_document(api_keys_file=key_file, metrics_require_key=True)
    assert spec["paths"]["/metrics"]["get"]["security"] == [{"apiKey": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]


async def test_without_keys_the_document_is_what_keys_add_to_and_no_more(key_file):
    plain = await keyed_document()
    keyed = await keyed_document(api_keys_file=key_file)
    assert "securitySchemes" not in plain["components"]
    del keyed["components"]["securitySchemes"]
    for path, operations in keyed["paths"].items():
        for method, operation in operations.items():
            operation.pop("security", None)
            operation["responses"].pop("401", None)
            if "400" not in plain["paths"][path][method]["responses"]:
                operation["responses"].pop("400", None)
    assert keyed == plain
