"""POST /v1/read: the number written in one image, digit by digit, on the bundled model."""

from __future__ import annotations

import base64

import pytest
from PIL import Image

from service.api.examples import EXAMPLE_ARRAY
from tests.service.drawing import draw_number, encode, iou, photo_like

pytestmark = pytest.mark.anyio


def photo_of(number: str, seed: int = 0) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    """A JPEG of ``number`` written on a page, as a phone takes it, and each digit's box."""
    page, boxes = draw_number(number, (200 * len(number) + 120, 320), scale=0.7)
    return encode(photo_like(page, seed=seed), "JPEG", quality=85), boxes


def assert_error(response, code: str, mentions: str = "") -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (422, code)
    assert mentions in error["message"]


@pytest.mark.parametrize("number", ["407", "1975", "62"])
async def test_read_gives_the_number_and_each_digit_left_to_right(client, number):
    photo, boxes = photo_of(number, seed=len(number))
    response = await client.post("/v1/read", files={"file": ("n.jpg", photo, "image/jpeg")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["version"], body["backend"]) == ("lenet", "1", "onnx")
    assert body["number"] == number
    assert [str(d["digit"]) for d in body["digits"]] == list(number)
    for digit, box in zip(body["digits"], boxes, strict=True):
        assert digit["probability"] == max(digit["probabilities"])
        assert len(digit["probabilities"]) == 10
        assert iou(digit["box"], box) > 0.7
    lefts = [digit["box"][0] for digit in body["digits"]]
    assert lefts == sorted(lefts)


async def test_read_takes_a_raw_body_and_b64_json_alike(client):
    photo, _ = photo_of("407", seed=3)
    raw = await client.post("/v1/read", content=photo, headers={"content-type": "image/jpeg"})
    b64 = await client.post(
        "/v1/read", json={"instances": [{"b64": base64.b64encode(photo).decode()}]}
    )
    assert raw.status_code == b64.status_code == 200
    assert raw.json()["digits"] == b64.json()["digits"]
    assert raw.json()["number"] == "407"


@pytest.mark.parametrize("backend", ["numpy", "onnx"])
async def test_read_on_another_backend_gives_the_same_number(client, backend):
    photo, _ = photo_of("407", seed=3)
    response = await client.post(
        f"/v1/read?backend={backend}", files={"file": ("n.jpg", photo, "image/jpeg")}
    )
    assert response.status_code == 200, response.text
    assert (response.json()["backend"], response.json()["number"]) == (backend, "407")


async def test_read_refuses_a_json_array(client):
    response = await client.post("/v1/read", json={"instances": [EXAMPLE_ARRAY]})
    assert_error(response, "invalid_input", "not an array")


async def test_read_answers_no_digit_for_a_blank_photo(client):
    blank = encode(photo_like(Image.new("L", (640, 320), 255), seed=1), "JPEG")
    response = await client.post("/v1/read", files={"file": ("blank.jpg", blank, "image/jpeg")})
    assert_error(response, "no_digit", "no digit")


async def test_read_refuses_a_batch(client):
    photo, _ = photo_of("407")
    files = [("files", (f"{i}.jpg", photo, "image/jpeg")) for i in range(2)]
    assert_error(await client.post("/v1/read", files=files), "invalid_input", "exactly one")


async def test_read_documents_no_preprocess_choice_it_would_not_use(client):
    """A number is found in a photo by steps of its own: ``preprocess`` changed nothing."""
    document = (await client.get("/openapi.json")).json()
    parameters = document["paths"]["/v1/read"]["post"]["parameters"]
    assert [parameter["name"] for parameter in parameters] == ["backend", "version"]
    predict = document["paths"]["/v1/predict"]["post"]["parameters"]
    assert "preprocess" in [parameter["name"] for parameter in predict]
