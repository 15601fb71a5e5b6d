"""POST /v1/predict in every input form, on the bundled model."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from service.examples import EXAMPLE_ARRAY, EXAMPLE_DIGIT
from tests.service.drawing import draw_digit, encode, photo_like

pytestmark = pytest.mark.anyio

FORMATS = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "BMP": "image/bmp",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}


def digits_of(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [p["digit"] for p in response.json()["predictions"]]


def photo_of_seven() -> bytes:
    """Dark ink on light paper, off-centre, large, unevenly lit: what a phone gives."""
    drawing = draw_digit(7, (1200, 900), offset=(-250, 120), scale=0.8)
    return encode(photo_like(drawing, seed=7), "JPEG", quality=85)


async def test_predict_reads_a_multipart_upload(client):
    files = {"file": ("seven.png", encode(draw_digit(7), "PNG"), "image/png")}
    response = await client.post("/v1/predict", files=files)
    body = response.json()
    assert digits_of(response) == [7]
    assert (body["model"], body["version"], body["backend"]) == ("lenet", "1", "tensorflow")
    prediction = body["predictions"][0]
    assert len(prediction["probabilities"]) == 10
    assert prediction["probability"] == max(prediction["probabilities"]) > 0.5
    assert sum(prediction["probabilities"]) == pytest.approx(1, abs=1e-4)


async def test_predict_answers_a_multipart_batch_in_request_order(client):
    digits = [0, 1, 2, 3, 4, 7]
    files = [("files", (f"{d}.png", encode(draw_digit(d), "PNG"), "image/png")) for d in digits]
    assert digits_of(await client.post("/v1/predict", files=files)) == digits


@pytest.mark.parametrize("fmt", FORMATS)
async def test_predict_reads_a_raw_image_body(client, fmt):
    image = draw_digit(7, (200, 160), offset=(30, -10)).convert("RGB")
    response = await client.post(
        "/v1/predict", content=encode(image, fmt), headers={"content-type": FORMATS[fmt]}
    )
    assert digits_of(response) == [7]


async def test_predict_reads_json_arrays_in_mnist_form(client):
    response = await client.post("/v1/predict", json={"instances": [EXAMPLE_ARRAY]})
    assert digits_of(response) == [EXAMPLE_DIGIT]


async def test_predict_reads_json_b64_images(client):
    instance = {"b64": base64.b64encode(encode(draw_digit(4), "PNG")).decode()}
    assert digits_of(await client.post("/v1/predict", json={"instances": [instance]})) == [4]


async def test_a_photographed_seven_is_a_seven(client):
    files = {"file": ("seven.jpg", photo_of_seven(), "image/jpeg")}
    assert digits_of(await client.post("/v1/predict", files=files)) == [7]


async def test_the_same_image_gets_the_same_answer_in_every_input_form(client):
    png = encode(draw_digit(3, (300, 300), offset=(40, 25)), "PNG")
    as_upload = await client.post("/v1/predict", files={"file": ("3.png", png, "image/png")})
    as_body = await client.post("/v1/predict", content=png, headers={"content-type": "image/png"})
    as_b64 = await client.post(
        "/v1/predict", json={"instances": [{"b64": base64.b64encode(png).decode()}]}
    )
    seen = await client.post(
        "/v1/activations?layers=output", content=png, headers={"content-type": "image/png"}
    )
    tensor = (np.asarray(seen.json()["input"]) * 255).round().tolist()  # what the network saw
    as_array = await client.post("/v1/predict", json={"instances": [tensor]})
    answers = [r.json()["predictions"][0] for r in (as_upload, as_body, as_b64, as_array)]
    assert {a["digit"] for a in answers} == {3}
    for answer in answers[1:]:
        np.testing.assert_allclose(answer["probabilities"], answers[0]["probabilities"], atol=1e-4)


async def test_preprocess_none_feeds_the_image_as_is(client):
    png = encode(draw_digit(7, (280, 280), ink=255, paper=0), "PNG")
    plain = await client.post("/v1/predict?preprocess=none", files={"file": ("7.png", png)})
    normalised = await client.post("/v1/predict", files={"file": ("7.png", png)})
    assert plain.status_code == normalised.status_code == 200
    assert plain.json()["predictions"] != normalised.json()["predictions"]


@pytest.mark.parametrize("backend", ["numpy", "onnx"])
async def test_every_backend_gives_the_same_answers_as_tensorflow(client, backend):
    files = [("f", (f"{d}.png", encode(draw_digit(d), "PNG"))) for d in (0, 2, 5, 7, 9)]
    tf = (await client.post("/v1/predict?backend=tensorflow", files=files)).json()
    other = (await client.post(f"/v1/predict?backend={backend}", files=files)).json()
    assert other["backend"] == backend and tf["backend"] == "tensorflow"
    for a, b in zip(tf["predictions"], other["predictions"], strict=True):
        assert a["digit"] == b["digit"]
        np.testing.assert_allclose(a["probabilities"], b["probabilities"], atol=1e-5)


async def test_predict_serves_an_explicit_version(client):
    response = await client.post("/v1/predict?version=1", json={"instances": [EXAMPLE_ARRAY]})
    assert response.json()["version"] == "1"
