"""/v1/explain and its heat map: the NumPy network's gradients, whichever backend predicted.

Nothing here depends on the bundled weights' numbers: the answers are compared with the
served version's own explainer, which ``tests/model/test_saliency.py`` checks against
GradientTape, and whose weights are checked here to be the NumPy backend's.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from model.spec import LAYER_NAMES
from service.api import pictures
from service.api.examples import EXAMPLE_ARRAY, EXAMPLE_PNG
from tests.service.drawing import draw_digit, encode

pytestmark = pytest.mark.anyio

SEVEN = {"instances": [EXAMPLE_ARRAY]}


def decoded(encoded: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(encoded["b64"]), "<f4").reshape(encoded["shape"])


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """||actual - expected|| / ||expected||."""
    return float(np.linalg.norm(actual - expected) / np.linalg.norm(expected))


@pytest.fixture
def expected(app):
    """digit → the served version's explanation of the example seven, called directly."""
    explainer = app.state.repository.get().explainer
    image = np.asarray(EXAMPLE_ARRAY, np.float32)[None, :, :, None] / 255
    return lambda digit: explainer.explain(image, [digit])


async def test_the_explainer_runs_the_weights_the_numpy_backend_serves(client, expected):
    served = (await client.post("/v1/predict?backend=numpy", json=SEVEN)).json()
    np.testing.assert_allclose(
        expected(0).probabilities[0], served["predictions"][0]["probabilities"], rtol=1e-5
    )


async def test_explain_gives_the_predicted_digits_saliency_as_lists(client, expected):
    response = await client.post("/v1/explain", json=SEVEN)
    assert response.status_code == 200, response.text
    body = response.json()
    prediction = (await client.post("/v1/predict", json=SEVEN)).json()
    assert body["backend"] == prediction["backend"]
    assert body["digit"] == body["predicted"] == prediction["predictions"][0]["digit"]
    np.testing.assert_allclose(
        body["probabilities"], prediction["predictions"][0]["probabilities"], rtol=1e-6
    )
    found = expected(body["digit"])
    gradient = np.asarray(body["gradient"]["data"])
    assert body["gradient"]["shape"] == [28, 28] and gradient.shape == (28, 28)
    assert relative_error(gradient, found.gradient[0, :, :, 0]) <= 1e-6
    assert body["gradient"]["min"] == pytest.approx(gradient.min())
    assert body["gradient"]["max"] == pytest.approx(gradient.max())
    network_input = np.asarray(body["input"])
    np.testing.assert_allclose(network_input * 255, EXAMPLE_ARRAY, atol=1e-3)
    np.testing.assert_allclose(
        body["gradient_x_input"]["data"], gradient * network_input, rtol=1e-6, atol=1e-12
    )


async def test_explain_lists_every_layers_gradient_norm(client, expected):
    body = (await client.post("/v1/explain", json=SEVEN)).json()
    summary = (await client.get("/v1/model")).json()
    assert [layer["name"] for layer in body["layers"]] == list(LAYER_NAMES)
    norms = expected(body["digit"]).layer_norms
    for layer, described in zip(body["layers"], summary["layers"], strict=True):
        assert layer["shape"] == described["output_shape"] and layer["type"] == described["type"]
        assert layer["gradient_l2"] == pytest.approx(norms[layer["name"]][0], rel=1e-6)
    assert body["layers"][-1]["gradient_l2"] == 1


async def test_explain_selects_layers_in_network_order(client):
    body = (await client.post("/v1/explain?layers=fc1,conv1", json=SEVEN)).json()
    assert [layer["name"] for layer in body["layers"]] == ["conv1", "fc1"]


async def test_explain_base64_encoding_matches_the_lists(client):
    plain = (await client.post("/v1/explain?digit=2", json=SEVEN)).json()
    packed = (await client.post("/v1/explain?digit=2&encoding=base64", json=SEVEN)).json()
    assert packed["encoding"] == "base64"
    for field in ("gradient", "gradient_x_input"):
        assert packed[field]["data"] is None
        np.testing.assert_array_equal(
            decoded(packed[field]), np.asarray(plain[field]["data"], np.float32)
        )


async def test_explain_a_digit_that_was_not_predicted(client, expected):
    predicted = (await client.post("/v1/explain", json=SEVEN)).json()["predicted"]
    other = (predicted + 1) % 10
    body = (await client.post(f"/v1/explain?digit={other}", json=SEVEN)).json()
    assert body["digit"] == other and body["predicted"] == predicted
    gradient = np.asarray(body["gradient"]["data"])
    assert relative_error(gradient, expected(other).gradient[0, :, :, 0]) <= 1e-6
    assert relative_error(gradient, expected(predicted).gradient[0, :, :, 0]) > 0.1


@pytest.mark.parametrize("digit", ["10", "-1", "seven", "2.5"])
async def test_explain_rejects_a_digit_outside_0_to_9(client, digit):
    for path in ("/v1/explain", "/v1/explain.png"):
        response = await client.post(f"{path}?digit={digit}", json=SEVEN)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_input" and "digit" in error["message"]


async def test_explain_rejects_a_batch_and_unknown_layers(client):
    two = await client.post("/v1/explain", json={"instances": [EXAMPLE_ARRAY, EXAMPLE_ARRAY]})
    assert two.status_code == 422 and "one image" in two.json()["error"]["message"]
    unknown = await client.post("/v1/explain?layers=conv9", json=SEVEN)
    assert unknown.status_code == 404 and "conv9" in unknown.json()["error"]["message"]


@pytest.mark.parametrize("backend", ["onnx", "tensorflow"])
async def test_explain_is_the_numpy_networks_whichever_backend_predicted(client, backend):
    numpy = (await client.post("/v1/explain?backend=numpy", json=SEVEN)).json()
    other = (await client.post(f"/v1/explain?backend={backend}", json=SEVEN)).json()
    assert other["backend"] == backend and other["predicted"] == numpy["predicted"]
    np.testing.assert_allclose(other["probabilities"], numpy["probabilities"], atol=1e-5)
    np.testing.assert_array_equal(other["gradient"]["data"], numpy["gradient"]["data"])


async def test_explain_an_uploaded_photo_of_a_digit(client):
    files = {"file": ("3.png", encode(draw_digit(3), "PNG"), "image/png")}
    response = await client.post("/v1/explain?layers=output", files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["predicted"] == body["digit"] == 3 and len(body["box"]) == 4


async def test_explain_png_is_a_heat_map_of_the_documented_size(client):
    response = await client.post(
        "/v1/explain.png", content=EXAMPLE_PNG, headers={"content-type": "image/png"}
    )
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    picture = Image.open(io.BytesIO(response.content))
    side = 28 * pictures.HEAT_ZOOM
    assert picture.format == "PNG" and picture.mode == "RGB" and picture.size == (side, side)
    spec = (await client.get("/openapi.json")).json()
    documented = spec["paths"]["/v1/explain.png"]["post"]["responses"]["200"]["description"]
    assert f"{side}×{side}" in documented


async def test_explain_png_changes_with_the_digit(client):
    seven = await client.post("/v1/explain.png?digit=7", json=SEVEN)
    one = await client.post("/v1/explain.png?digit=1", json=SEVEN)
    assert seven.status_code == one.status_code == 200
    assert seven.content != one.content


def test_the_heat_map_is_red_where_ink_helps_and_blue_where_it_hurts():
    gradient = np.zeros((28, 28))
    gradient[:14], gradient[14:] = 2.0, -1.0
    pixels = np.asarray(
        Image.open(io.BytesIO(pictures.saliency_heat_map(np.zeros((28, 28)), gradient)))
    )
    top, bottom = pixels[0, 0].astype(int), pixels[-1, -1].astype(int)
    assert top[0] > top[2] and bottom[2] > bottom[0]
