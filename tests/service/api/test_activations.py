"""/v1/activations and the feature-map pictures."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from model.spec import LAYER_NAMES
from service.api.examples import EXAMPLE_ARRAY, EXAMPLE_PNG
from tests.service.drawing import draw_digit, encode, ink_box, iou

pytestmark = pytest.mark.anyio

SEVEN = {"instances": [EXAMPLE_ARRAY]}


async def test_activations_return_every_layer_with_the_summarys_shapes(client):
    response = await client.post("/v1/activations", json=SEVEN)
    assert response.status_code == 200, response.text
    body = response.json()
    summary = (await client.get("/v1/model")).json()
    assert [layer["name"] for layer in body["layers"]] == list(LAYER_NAMES)
    for layer, described in zip(body["layers"], summary["layers"], strict=True):
        data = np.asarray(layer["data"], dtype=np.float32)
        assert layer["shape"] == described["output_shape"] == list(data.shape)
        assert layer["type"] == described["type"]
        assert layer["min"] == pytest.approx(data.min()) and layer["max"] == pytest.approx(
            data.max()
        )
    probabilities = np.asarray(body["layers"][-1]["data"])
    prediction = (await client.post("/v1/predict", json=SEVEN)).json()["predictions"][0]
    np.testing.assert_allclose(probabilities, prediction["probabilities"], atol=1e-6)
    network_input = np.asarray(body["input"])
    assert network_input.shape == (28, 28) and 0 <= network_input.min() <= network_input.max() <= 1
    np.testing.assert_allclose(network_input * 255, EXAMPLE_ARRAY, atol=1e-3)


async def test_activations_select_layers_in_network_order(client):
    response = await client.post("/v1/activations?layers=pool1,conv1", json=SEVEN)
    assert [layer["name"] for layer in response.json()["layers"]] == ["conv1", "pool1"]


async def test_activations_base64_encoding_matches_the_lists(client):
    plain = (await client.post("/v1/activations?layers=conv2", json=SEVEN)).json()["layers"][0]
    packed = (await client.post("/v1/activations?layers=conv2&encoding=base64", json=SEVEN)).json()
    layer = packed["layers"][0]
    assert packed["encoding"] == "base64" and layer["data"] is None
    decoded = np.frombuffer(base64.b64decode(layer["b64"]), "<f4").reshape(layer["shape"])
    np.testing.assert_array_equal(decoded, np.asarray(plain["data"], np.float32))


@pytest.mark.parametrize("backend", ["numpy", "onnx"])
async def test_activations_agree_between_backends(client, backend):
    tf = (await client.post("/v1/activations?backend=tensorflow", json=SEVEN)).json()
    other = (await client.post(f"/v1/activations?backend={backend}", json=SEVEN)).json()
    for a, b in zip(tf["layers"], other["layers"], strict=True):
        np.testing.assert_allclose(a["data"], b["data"], atol=1e-5, err_msg=a["name"])


async def test_activations_accept_an_uploaded_image(client):
    files = {"file": ("7.png", encode(draw_digit(7), "PNG"), "image/png")}
    response = await client.post("/v1/activations?layers=output", files=files)
    assert int(np.argmax(response.json()["layers"][0]["data"])) == 7


async def test_activations_box_an_images_digit(client):
    drawing = draw_digit(3, (320, 240), offset=(70, -30), scale=0.6)
    files = {"file": ("3.png", encode(drawing, "PNG"), "image/png")}
    response = await client.post("/v1/activations?layers=output", files=files)
    assert response.status_code == 200, response.text
    box = response.json()["box"]
    assert len(box) == 4 and all(type(v) is int for v in box)
    assert iou(box, ink_box(drawing)) > 0.7


async def test_activations_of_an_array_have_a_null_box(client):
    response = await client.post("/v1/activations?layers=output", json=SEVEN)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "box" in body and body["box"] is None


async def test_activations_reject_a_batch_and_unknown_layers(client):
    two = await client.post("/v1/activations", json={"instances": [EXAMPLE_ARRAY, EXAMPLE_ARRAY]})
    assert two.status_code == 422 and "one image" in two.json()["error"]["message"]
    unknown = await client.post("/v1/activations?layers=conv1,conv9", json=SEVEN)
    assert unknown.status_code == 404 and "conv9" in unknown.json()["error"]["message"]


@pytest.mark.parametrize("layer", LAYER_NAMES)
async def test_layer_picture_for_the_example_digit(client, layer):
    response = await client.get(f"/v1/activations/{layer}.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    picture = Image.open(io.BytesIO(response.content))
    assert picture.format == "PNG" and picture.width >= 28 and picture.height >= 28


async def test_layer_picture_of_a_posted_image_shows_one_tile_per_feature_map(client):
    response = await client.post(
        "/v1/activations/conv1.png", content=EXAMPLE_PNG, headers={"content-type": "image/png"}
    )
    picture = np.asarray(Image.open(io.BytesIO(response.content)))
    # six 28x28 maps, each scaled 3x, in a 3x2 grid with 4-pixel gaps
    assert picture.shape == (2 * (84 + 4) + 4, 3 * (84 + 4) + 4)


@pytest.mark.parametrize("layer", ["conv9", "conv1,pool1", "%20"])
async def test_layer_picture_of_an_unknown_layer_is_404(client, layer):
    response = await client.get(f"/v1/activations/{layer}.png")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
