"""POST /v1/predict in every input form, on the bundled model."""

from __future__ import annotations

import base64
import tempfile

import numpy as np
import pytest
from PIL.PngImagePlugin import PngInfo

from service.api.examples import EXAMPLE_ARRAY, EXAMPLE_DIGIT
from service.runtime import views
from tests.service.drawing import draw_digit, encode, ink_box, iou, photo_like

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


SEVEN_ON_PAPER = draw_digit(7, (1200, 900), offset=(-250, 120), scale=0.8)


def photo_of_seven() -> bytes:
    """Dark ink on light paper, off-centre, large, unevenly lit: what a phone gives."""
    return encode(photo_like(SEVEN_ON_PAPER, seed=7), "JPEG", quality=85)


async def test_predict_reads_a_multipart_upload(client):
    files = {"file": ("seven.png", encode(draw_digit(7), "PNG"), "image/png")}
    response = await client.post("/v1/predict", files=files)
    body = response.json()
    assert digits_of(response) == [7]
    assert (body["model"], body["version"], body["backend"]) == ("lenet", "1", "onnx")
    prediction = body["predictions"][0]
    assert len(prediction["probabilities"]) == 10
    assert prediction["probability"] == max(prediction["probabilities"]) > 0.5
    assert sum(prediction["probabilities"]) == pytest.approx(1, abs=1e-4)
    assert_box_inside(prediction["box"], (280, 280))


def assert_box_inside(box: list[int], size: tuple[int, int]) -> None:
    assert len(box) == 4 and all(type(v) is int for v in box)
    x, y, width, height = box
    assert x >= 0 and y >= 0 and width > 0 and height > 0
    assert x + width <= size[0] and y + height <= size[1]


async def test_predict_answers_a_multipart_batch_in_request_order(client):
    digits = [0, 1, 2, 3, 4, 7]
    files = [("files", (f"{d}.png", encode(draw_digit(d), "PNG"), "image/png")) for d in digits]
    assert digits_of(await client.post("/v1/predict", files=files)) == digits


async def test_a_large_upload_is_never_spooled_to_disk(client, monkeypatch, tmp_path):
    """A container's /tmp is a small tmpfs; were the 3 MB part spooled there, with no temp
    folder to spool to this would be a 500."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    info = PngInfo()
    info.add_text("comment", "x" * 3_000_000)
    large = encode(draw_digit(7), "PNG", pnginfo=info)
    response = await client.post("/v1/predict", files=[("f", ("7.png", large, "image/png"))])
    assert digits_of(response) == [7]


@pytest.mark.parametrize("closed", [True, False], ids=["closed", "cut-short"])
async def test_a_multipart_batch_is_read_whole_or_refused(client, closed):
    """A body that ends before its closing boundary would lose the part still open."""
    parts = [
        f'--X\r\nContent-Disposition: form-data; name="f"; filename="{d}.png"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode()
        + encode(draw_digit(d), "PNG")
        + b"\r\n"
        for d in (1, 7)
    ]
    body = b"".join(parts) + (b"--X--\r\n" if closed else b"")
    headers = {"content-type": "multipart/form-data; boundary=X"}
    response = await client.post("/v1/predict", content=body, headers=headers)
    if closed:
        assert digits_of(response) == [1, 7]
    else:
        assert response.status_code == 400
        assert "ends before its closing boundary" in response.json()["error"]["message"]


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
    assert "box" not in response.json()["predictions"][0]


async def test_predict_reads_json_b64_images(client):
    instance = {"b64": base64.b64encode(encode(draw_digit(4), "PNG")).decode()}
    assert digits_of(await client.post("/v1/predict", json={"instances": [instance]})) == [4]


async def test_a_photographed_seven_is_a_seven(client):
    files = {"file": ("seven.jpg", photo_of_seven(), "image/jpeg")}
    assert digits_of(await client.post("/v1/predict", files=files)) == [7]


async def test_predict_boxes_each_images_digit_where_it_was_drawn(client):
    drawings = [
        draw_digit(2, (400, 300), offset=(-90, 50), scale=0.5),
        draw_digit(5, (300, 400), offset=(60, -100), scale=0.4),
    ]
    files = [("f", (f"{i}.png", encode(d, "PNG"), "image/png")) for i, d in enumerate(drawings)]
    response = await client.post("/v1/predict", files=files)
    assert digits_of(response) == [2, 5]
    for prediction, drawing in zip(response.json()["predictions"], drawings, strict=True):
        assert_box_inside(prediction["box"], drawing.size)
        assert iou(prediction["box"], ink_box(drawing)) > 0.7


async def test_predict_boxes_a_photo_in_the_uploads_own_pixels(client):
    files = {"file": ("seven.jpg", photo_of_seven(), "image/jpeg")}
    response = await client.post("/v1/predict", files=files)
    assert digits_of(response) == [7]
    assert iou(response.json()["predictions"][0]["box"], ink_box(SEVEN_ON_PAPER)) > 0.7


async def test_predict_boxes_images_but_not_arrays_in_one_batch(client):
    image = {"b64": base64.b64encode(encode(draw_digit(4, (200, 200)), "PNG")).decode()}
    response = await client.post("/v1/predict", json={"instances": [image, EXAMPLE_ARRAY]})
    assert digits_of(response) == [4, EXAMPLE_DIGIT]
    with_box, without = response.json()["predictions"]
    assert_box_inside(with_box["box"], (200, 200))
    assert "box" not in without


async def test_predict_boxes_the_whole_image_when_it_is_taken_as_it_is(client):
    png = encode(draw_digit(7, (140, 112), ink=255, paper=0), "PNG")
    response = await client.post("/v1/predict?preprocess=none", files={"file": ("7.png", png)})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["box"] == [0, 0, 140, 112]


async def test_the_same_image_gets_the_same_answer_in_every_input_form(client):
    png = encode(draw_digit(3, (300, 300), offset=(40, 25)), "PNG")
    as_upload = await client.post("/v1/predict", files={"file": ("3.png", png, "image/png")})
    as_body = await client.post("/v1/predict", content=png, headers={"content-type": "image/png"})
    as_b64 = await client.post(
        "/v1/predict", json={"instances": [{"b64": base64.b64encode(png).decode()}]}
    )
    answers = [r.json()["predictions"][0] for r in (as_upload, as_body, as_b64)]
    assert {a["digit"] for a in answers} == {3}
    for answer in answers[1:]:
        np.testing.assert_allclose(answer["probabilities"], answers[0]["probabilities"], atol=1e-6)


async def test_a_digit_cut_out_of_a_photo_is_read_as_the_mean_over_its_views(client):
    png = encode(draw_digit(3, (300, 300), offset=(40, 25)), "PNG")
    answer = await client.post("/v1/predict", content=png, headers={"content-type": "image/png"})
    seen = await client.post(
        "/v1/activations?layers=output", content=png, headers={"content-type": "image/png"}
    )
    form = np.asarray(seen.json()["input"], np.float32)[None, :, :, None]  # what it cut out
    rows, _ = views.expand(form, np.array([True]))
    arrays = (rows[:, :, :, 0] * 255).tolist()  # as JSON arrays: each read once, as it is
    each = await client.post("/v1/predict", json={"instances": arrays})
    by_view = [p["probabilities"] for p in each.json()["predictions"]]
    assert len(by_view) == views.VIEWS
    np.testing.assert_allclose(
        answer.json()["predictions"][0]["probabilities"], np.mean(by_view, axis=0), atol=1e-5
    )
    # Not a mean of equal answers: the views differ, and the form alone is not the answer.
    assert np.ptp(np.asarray(by_view)[:, 3]) > 1e-4


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
