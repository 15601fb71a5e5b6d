"""Bad input gets one clear JSON error shape, and the service keeps serving."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from asgi_lifespan import LifespanManager
from PIL import Image

from service.api.examples import EXAMPLE_ARRAY
from service.app import create_app
from service.settings import Settings
from tests.service.conftest import MODEL_ROOT, client_for
from tests.service.drawing import draw_digit, encode, photo_like, png_bomb

pytestmark = pytest.mark.anyio


def assert_error(response, status: int, code: str, mentions: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["status"] == status and body["error"]["code"] == code
    assert mentions.lower() in body["error"]["message"].lower()
    assert "Traceback" not in response.text


PNG = encode(draw_digit(7), "PNG")
BLANK_SHEET = encode(photo_like(Image.new("L", (640, 480), 255), seed=1), "JPEG")


@pytest.mark.parametrize("content_type", ["text/plain", "image/tiff", "application/xml", ""])
async def test_predict_rejects_unsupported_content_types(client, content_type):
    response = await client.post(
        "/v1/predict", content=b"x", headers={"content-type": content_type}
    )
    assert_error(response, 415, "unsupported_media_type", "content type")


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("truncated_png", PNG[: len(PNG) // 2]),
        ("truncated_jpeg", encode(draw_digit(7).convert("RGB"), "JPEG")[:400]),
        ("random_bytes", bytes(range(256)) * 4),
    ],
)
async def test_predict_rejects_undecodable_images(client, name, payload):
    response = await client.post(
        "/v1/predict", content=payload, headers={"content-type": "image/png"}
    )
    assert_error(response, 400, "bad_request")
    uploaded = await client.post("/v1/predict", files={"file": (name, payload, "image/png")})
    assert_error(uploaded, 400, "bad_request")


async def test_predict_rejects_an_empty_body(client):
    response = await client.post("/v1/predict", content=b"", headers={"content-type": "image/png"})
    assert_error(response, 400, "bad_request", "empty")


async def test_predict_rejects_malformed_json(client):
    response = await client.post(
        "/v1/predict", content=b'{"instances": [', headers={"content-type": "application/json"}
    )
    assert_error(response, 400, "bad_request", "json")


async def test_predict_rejects_invalid_base64(client):
    response = await client.post("/v1/predict", json={"instances": [{"b64": "not base64!"}]})
    assert_error(response, 400, "bad_request", "base64")


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"instances": [[[0] * 28] * 27]}, "27x28"),
        ({"instances": [[[0] * 27] * 28]}, "28x27"),
        ({"instances": [[[300] * 28] * 28]}, "255"),
        ({"instances": [[[-1] * 28] * 28]}, "255"),
        ({"instances": [[["a"] * 28] * 28]}, ""),
        ({"instances": [[[True] * 28] * 28]}, ""),
        ({"instances": "seven"}, "instances"),
        ({"instances": []}, "instances"),
        ({"images": [EXAMPLE_ARRAY]}, "instances"),
        ({"instances": [{"png": "AAAA"}]}, "instances"),
        ([1, 2, 3], ""),
    ],
)
async def test_predict_rejects_wrong_json(client, body, mentions):
    assert_error(await client.post("/v1/predict", json=body), 422, "invalid_input", mentions)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
async def test_predict_rejects_nan_and_inf(client, literal):
    rows = [[0] * 28 for _ in range(28)]
    text = json.dumps({"instances": [rows]}).replace("0", literal, 1)
    response = await client.post(
        "/v1/predict", content=text, headers={"content-type": "application/json"}
    )
    assert_error(response, 422, "invalid_input")


async def test_predict_rejects_a_body_over_the_limit(strict_client):
    response = await strict_client.post(
        "/v1/predict", content=bytes(100 * 1024), headers={"content-type": "image/png"}
    )
    assert_error(response, 413, "payload_too_large", "limit")


async def test_json_with_more_values_than_the_images_allowed_is_refused_unparsed(strict_client):
    """The strict app takes 3 images: 3 x 784 values and a little more; a body of many more
    (a 19 MB one held the event loop for a second while it was parsed) is 413 first, not
    the 422 its shape would get once parsed. Three images still pass."""
    many = json.dumps({"instances": [[0] * 6000]})
    response = await strict_client.post(
        "/v1/predict", content=many, headers={"content-type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large", "at most 3 images of 28x28")
    three = await strict_client.post("/v1/predict", json={"instances": [EXAMPLE_ARRAY] * 3})
    assert three.status_code == 200, three.text


async def test_an_error_in_one_input_of_a_batch_names_that_input(client):
    garbage = [("a", ("7.png", PNG, "image/png")), ("b", ("x.png", b"not a png", "image/png"))]
    unreadable = await client.post("/v1/predict", files=[*garbage, garbage[0]])
    assert_error(unreadable, 400, "bad_request", "image 2 of 3: ")
    too_light = [[300] * 28] * 28
    out_of_range = await client.post("/v1/predict", json={"instances": [EXAMPLE_ARRAY, too_light]})
    assert_error(out_of_range, 422, "invalid_input", "image 2 of 2: ")
    alone = await client.post("/v1/predict", files=garbage[1:])
    assert_error(alone, 400, "bad_request")
    assert "image 1" not in alone.json()["error"]["message"]


async def test_one_image_sent_without_its_batch_brackets_is_told_so(client):
    response = await client.post("/v1/predict", json={"instances": EXAMPLE_ARRAY})
    assert_error(response, 422, "invalid_input", "each instance is a whole image")


async def test_a_head_over_the_limit_is_431_in_each_apis_shape(strict_client):
    """The strict app takes 4 KiB of line and headers."""
    big = {"X-Big": "a" * 5000}
    refused = await strict_client.get("/v1/model", headers=big)
    assert_error(refused, 431, "header_too_large", "4096 bytes")
    assert refused.headers["connection"] == "close"
    v2 = await strict_client.get("/v2/models/lenet", headers=big)
    assert v2.status_code == 431 and "4096 bytes" in v2.json()["error"]
    assert (await strict_client.get("/v1/model", headers={"X-Big": "a" * 3000})).status_code == 200


async def test_predict_rejects_a_chunked_body_over_the_limit(strict_client):
    async def chunks():
        for _ in range(10):
            yield bytes(16 * 1024)

    response = await strict_client.post(
        "/v1/predict", content=chunks(), headers={"content-type": "image/png"}
    )
    assert_error(response, 413, "payload_too_large", "limit")


async def test_predict_rejects_a_decompression_bomb(strict_client):
    bomb = png_bomb(20_000, 20_000)
    assert len(bomb) < 64 * 1024
    response = await strict_client.post(
        "/v1/predict", content=bomb, headers={"content-type": "image/png"}
    )
    assert_error(response, 413, "payload_too_large", "pixels")


def multipart(*parts: tuple[str, bytes]) -> bytes:
    """A multipart body of (Content-Disposition, content) parts, boundary X, closed."""
    return (
        b"".join(
            f"--X\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
            for disposition, content in parts
        )
        + b"--X--\r\n"
    )


async def test_a_multipart_batch_over_the_limit_is_refused_at_its_first_image_too_many(
    strict_client,
):
    """The strict app takes 3 images. Reading stops at the 4th file part: the part without
    a name after it, which would be a 400, is never reached, however many follow. Text
    fields are not images, and are not counted."""
    image = ('form-data; name="f"; filename="7.png"', PNG)
    tiny = ('form-data; name="f"; filename="x.png"', b"x")
    fields = [('form-data; name="note"', b"x")] * 10
    headers = {"content-type": "multipart/form-data; boundary=X"}
    too_many = multipart(*fields, *[tiny] * 4, ("form-data", b"x"), *[tiny] * 500)
    response = await strict_client.post("/v1/predict", content=too_many, headers=headers)
    assert_error(response, 413, "payload_too_large", "more than 3 images")
    allowed = await strict_client.post(
        "/v1/predict", content=multipart(*fields, *[image] * 3), headers=headers
    )
    assert allowed.status_code == 200


async def test_predict_rejects_images_over_the_requests_pixels(strict_client):
    """Each within the strict app's 1,000,000 pixels, three together over its 2,000,000."""
    image = encode(draw_digit(7, (900, 800)), "PNG")
    files = [("f", (f"{i}.png", image, "image/png")) for i in range(3)]
    response = await strict_client.post("/v1/predict", files=files)
    assert_error(response, 413, "payload_too_large", "2000000 pixels together")
    allowed = await strict_client.post("/v1/predict", files=files[:2])
    assert allowed.status_code == 200


async def test_predict_rejects_a_batch_over_the_limit(strict_client):
    files = [("f", (f"{i}.png", PNG, "image/png")) for i in range(4)]
    assert_error(
        await strict_client.post("/v1/predict", files=files), 413, "payload_too_large", "3"
    )
    allowed = await strict_client.post("/v1/predict", files=files[:3])
    assert allowed.status_code == 200


@pytest.mark.parametrize(
    "route", ["/v1/predict", "/v1/read", "/v1/activations", "/v1/activations/conv1.png"]
)
async def test_a_blank_sheet_is_no_digit_and_the_next_digit_is_read(client, route):
    response = await client.post(route, content=BLANK_SHEET, headers={"content-type": "image/jpeg"})
    assert_error(response, 422, "no_digit", "shows no digit")
    after = await client.post("/v1/predict", files={"file": ("7.png", PNG, "image/png")})
    assert after.status_code == 200
    assert after.json()["predictions"][0]["digit"] == 7


async def test_no_digit_names_the_blank_image_of_a_batch(client):
    files = [("f", ("7.png", PNG, "image/png")), ("f", ("blank.jpg", BLANK_SHEET, "image/jpeg"))]
    response = await client.post("/v1/predict", files=files)
    assert_error(response, 422, "no_digit", "image 2 of 2")


async def test_unknown_backend_and_version_are_named(client):
    response = await client.post("/v1/predict?backend=torch", json={"instances": [EXAMPLE_ARRAY]})
    assert_error(response, 422, "invalid_input", "backend")
    response = await client.post("/v1/predict?version=7", json={"instances": [EXAMPLE_ARRAY]})
    assert_error(response, 404, "not_found", "version")
    response = await client.get("/v1/activations/conv1.png?preprocess=sharpen")
    assert_error(response, 422, "invalid_input", "query.preprocess")


async def test_unknown_routes_use_the_error_shape(client):
    assert_error(await client.get("/v1/nothing"), 404, "not_found")
    assert_error(await client.get("/nothing"), 404, "not_found")
    assert_error(await client.get("/v1/predict"), 405, "method_not_allowed")
    unknown = await client.get("/v2/nothing")  # the Open Inference Protocol's own shape
    assert unknown.status_code == 404 and isinstance(unknown.json()["error"], str)


async def test_service_keeps_serving_after_bad_input(client):
    for payload in (b"garbage", PNG[:100]):
        await client.post("/v1/predict", content=payload, headers={"content-type": "image/png"})
    response = await client.post("/v1/predict", json={"instances": [EXAMPLE_ARRAY]})
    assert response.status_code == 200


async def test_not_ready_answers_503_but_stays_alive():
    app = create_app(Settings(model_root=MODEL_ROOT))  # lifespan never runs: nothing loads
    async with client_for(app) as client:
        assert (await client.get("/healthz")).status_code == 200
        assert_error(await client.get("/readyz"), 503, "model_not_ready")
        body = {"instances": [{"b64": base64.b64encode(PNG).decode()}]}
        refused = await client.post("/v1/predict", json=body)
        assert_error(refused, 503, "model_not_ready")
        assert refused.headers["retry-after"] == "5"  # as a full queue's 503 says when


async def test_a_missing_model_keeps_the_server_unready_with_the_reason(tmp_path):
    app = create_app(Settings(model_root=tmp_path, backends=["numpy"]))
    async with LifespanManager(app), client_for(app) as client:
        for _ in range(100):
            if app.state.repository.error:
                break
            await asyncio.sleep(0.02)
        assert_error(await client.get("/readyz"), 503, "model_not_ready", "no model versions")
