"""/v2 over REST, in process: the Open Inference Protocol's bodies, JSON and binary, every
input form the model metadata declares, and its errors, against what /v1 answers."""

from __future__ import annotations

import base64
import gzip
import json
import struct
import zlib

import numpy as np
import pytest

from service.api.examples import EXAMPLE_ARRAY, EXAMPLE_DIGIT, EXAMPLE_PNG
from service.errors import InvalidInput
from service.v2 import rest
from tests.service.drawing import draw_digit, encode

pytestmark = pytest.mark.anyio

INFER = "/v2/models/lenet/infer"
SEVEN = np.asarray(EXAMPLE_ARRAY, np.float32)  # (28, 28) gray levels, MNIST form


def pixels(images: np.ndarray, datatype: str = "FP32", **extra: object) -> dict:
    return {
        "name": "image",
        "shape": list(images.shape),
        "datatype": datatype,
        "data": images.tolist(),
        **extra,
    }


async def v1_probabilities(client, images: np.ndarray) -> np.ndarray:
    response = await client.post("/v1/predict", json={"instances": images.tolist()})
    return np.array([p["probabilities"] for p in response.json()["predictions"]], np.float32)


def output(body: dict, name: str) -> np.ndarray:
    (found,) = [o for o in body["outputs"] if o["name"] == name]
    return np.asarray(found["data"]).reshape(found["shape"])


async def test_server_metadata_and_health(client):
    assert (await client.get("/v2")).json()["extensions"] == ["binary_tensor_data"]
    assert (await client.get("/v2/health/live")).json() == {"live": True}
    assert (await client.get("/v2/health/ready")).json() == {"ready": True}
    for path in ("/v2/models/lenet/ready", "/v2/models/lenet/versions/1/ready"):
        assert (await client.get(path)).json() == {"name": "lenet", "ready": True}


async def test_model_metadata_declares_inputs_and_every_output(client):
    for path in ("/v2/models/lenet", "/v2/models/lenet/versions/1"):
        metadata = (await client.get(path)).json()
        assert metadata["name"] == "lenet" and metadata["versions"] == ["1"]
        assert metadata["platform"] == "onnxruntime_onnx"
        assert [(i["name"], i["datatype"]) for i in metadata["inputs"]] == [
            ("image", "FP32"),
            ("image_bytes", "BYTES"),
        ]
        outputs = {o["name"]: o for o in metadata["outputs"]}
        assert outputs["probabilities"]["shape"] == [-1, 10]
        assert outputs["conv1"] == {"name": "conv1", "datatype": "FP32", "shape": [-1, 28, 28, 6]}
        assert {"digit", "box", "pool2", "fc1", "output"} <= set(outputs)


@pytest.mark.parametrize(
    "request_input",
    [
        pixels(np.stack([SEVEN, SEVEN])[..., None]),
        pixels(np.stack([SEVEN, SEVEN])),
        pixels(np.stack([SEVEN, SEVEN]), "UINT8"),
        {**pixels(np.stack([SEVEN, SEVEN])), "data": np.stack([SEVEN, SEVEN]).ravel().tolist()},
    ],
    ids=["nhwc", "nhw", "uint8", "flat"],
)
async def test_gray_levels_read_as_v1_reads_its_arrays(client, request_input):
    response = await client.post(
        INFER, json={"id": "r-1", "inputs": [request_input], "outputs": [{"name": "digit"}]}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model_name"], body["model_version"], body["id"]) == ("lenet", "1", "r-1")
    assert output(body, "digit").tolist() == [EXAMPLE_DIGIT, EXAMPLE_DIGIT]


async def test_probabilities_are_the_default_output_and_match_v1(client):
    images = np.stack([SEVEN, 255 - SEVEN, np.flipud(SEVEN)])
    body = (await client.post(INFER, json={"inputs": [pixels(images)]})).json()
    assert [o["name"] for o in body["outputs"]] == ["probabilities"]
    np.testing.assert_allclose(
        output(body, "probabilities"), await v1_probabilities(client, images), atol=1e-6
    )


async def test_binary_tensors_both_ways(client):
    images = np.stack([SEVEN, np.fliplr(SEVEN)]).astype(np.float32)[..., None]
    raw = images.tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "image",
                    "shape": list(images.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "outputs": [
                {"name": "probabilities", "parameters": {"binary_data": True}},
                {"name": "digit"},
            ],
        }
    ).encode()
    response = await client.post(
        INFER,
        content=header + raw,
        headers={
            "Inference-Header-Content-Length": str(len(header)),
            "content-type": "application/octet-stream",
        },
    )
    assert response.status_code == 200, response.text
    length = int(response.headers["inference-header-content-length"])
    described = json.loads(response.content[:length])
    probabilities, digit = described["outputs"]
    size = probabilities["parameters"]["binary_data_size"]
    assert size == 2 * 10 * 4 and "data" not in probabilities
    received = np.frombuffer(response.content[length : length + size], "<f4").reshape(2, 10)
    np.testing.assert_allclose(received, await v1_probabilities(client, images[..., 0]), atol=1e-6)
    assert digit["data"] == received.argmax(axis=1).tolist()


async def test_an_encoded_image_is_read_and_boxed_as_v1_reads_it(client):
    photo = encode(draw_digit(3, (300, 240), offset=(40, -10), scale=0.6), "PNG")
    request = {
        "inputs": [
            {
                "name": "image_bytes",
                "shape": [2],
                "datatype": "BYTES",
                "data": [base64.b64encode(photo).decode(), base64.b64encode(EXAMPLE_PNG).decode()],
            }
        ],
        "outputs": [{"name": "digit"}, {"name": "box"}, {"name": "probabilities"}],
    }
    body = (await client.post(INFER, json=request)).json()
    v1 = (await client.post("/v1/predict", files=[("a", photo), ("b", EXAMPLE_PNG)])).json()
    assert output(body, "digit").tolist() == [p["digit"] for p in v1["predictions"]] == [3, 7]
    assert output(body, "box").tolist() == [p["box"] for p in v1["predictions"]]
    np.testing.assert_allclose(
        output(body, "probabilities"),
        [p["probabilities"] for p in v1["predictions"]],
        atol=1e-6,
    )


async def test_a_layer_is_an_output_equal_to_v1s_activations(client):
    request = {"inputs": [pixels(SEVEN[None])], "outputs": [{"name": "conv2"}]}
    body = (await client.post(INFER, json=request)).json()
    v1 = (
        await client.post("/v1/activations?layers=conv2", json={"instances": [EXAMPLE_ARRAY]})
    ).json()
    assert body["outputs"][0]["shape"] == [1, 10, 10, 16]
    np.testing.assert_allclose(output(body, "conv2")[0], v1["layers"][0]["data"], atol=1e-6)


async def test_the_backend_parameter_picks_a_loaded_backend(client):
    images = SEVEN[None]
    answers = []
    for backend in ("tensorflow", "numpy", "onnx"):
        request = {"parameters": {"backend": backend}, "inputs": [pixels(images)]}
        answers.append(output((await client.post(INFER, json=request)).json(), "probabilities"))
    np.testing.assert_allclose(answers[0], answers[1], atol=1e-5)
    np.testing.assert_allclose(answers[0], answers[2], atol=1e-5)


def binary_bytes(*elements: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(e)) + e for e in elements)


@pytest.mark.parametrize(
    ("content", "headers", "status", "words"),
    [
        (b"{not json", {}, 400, "not valid JSON"),
        (b'{"inputs": 3}', {}, 422, "not an inference request"),
        (json.dumps({"inputs": []}).encode(), {}, 422, "send one input"),
        (json.dumps({"inputs": [pixels(SEVEN[None], "INT64")]}).encode(), {}, 422, "UINT8 or FP32"),
        (json.dumps({"inputs": [pixels(SEVEN)]}).encode(), {}, 422, "shape [28, 28]"),
        (json.dumps({"inputs": [pixels(SEVEN[None] * 2)]}).encode(), {}, 422, "0-255"),
        (
            json.dumps({"inputs": [{**pixels(SEVEN[None]), "data": [["a"] * 28] * 28}]}).encode(),
            {},
            422,
            "must be numbers",
        ),
        (
            json.dumps({"inputs": [{**pixels(SEVEN[None]), "data": [[1, 2], [3]]}]}).encode(),
            {},
            422,
            "evenly nested",
        ),
        (
            json.dumps({"inputs": [pixels(SEVEN[None])], "outputs": [{"name": "conv9"}]}).encode(),
            {},
            422,
            "unknown output(s) conv9",
        ),
        (
            json.dumps({"inputs": [pixels(SEVEN[None]), pixels(SEVEN[None])]}).encode(),
            {},
            422,
            "send one input",
        ),
        (b"{}", {"Inference-Header-Content-Length": "99"}, 400, "does not fit"),
        (
            json.dumps(
                {
                    "inputs": [
                        {"name": "image_bytes", "shape": [1], "datatype": "BYTES", "data": ["%%"]}
                    ]
                }
            ).encode(),
            {},
            400,  # as /v1's b64
            "not valid base64",
        ),
        (
            json.dumps(
                {"parameters": {"backend": ["onnx"]}, "inputs": [pixels(SEVEN[None])]}
            ).encode(),
            {},
            422,
            "parameters.backend: Input should be a valid string",
        ),
    ],
    ids=[
        "bad-json",
        "not-a-request",
        "no-input",
        "wrong-datatype",
        "wrong-shape",
        "out-of-range",
        "strings",
        "ragged",
        "unknown-output",
        "two-inputs",
        "header-length",
        "bad-base64",
        "backend-type",
    ],
)
async def test_bad_requests_get_the_protocols_error_shape(client, content, headers, status, words):
    response = await client.post(INFER, content=content, headers=headers)
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["error"], str) and words in body["error"], body


async def test_binary_data_sizes_must_fit_the_body(client):
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "image_bytes",
                    "shape": [1],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": 10},
                }
            ]
        }
    ).encode()
    response = await client.post(
        INFER,
        content=header + binary_bytes(b"abc"),
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert response.status_code == 422 and "past the body's end" in response.json()["error"]


async def test_binary_data_with_a_header_length_that_leaves_bytes_over(client):
    header = json.dumps({"inputs": [pixels(SEVEN[None])]}).encode()
    response = await client.post(
        INFER,
        content=header + b"extra",
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert response.status_code == 422 and "belong to no input" in response.json()["error"]


async def test_unknown_models_and_versions_are_404(client):
    for path in ("/v2/models/resnet", "/v2/models/lenet/versions/9", "/v2/models/resnet/ready"):
        response = await client.get(path)
        assert response.status_code == 404 and isinstance(response.json()["error"], str)
    assert (await client.post("/v2/models/resnet/infer", json={})).status_code == 404


async def test_a_batch_over_the_limit_is_413(strict_client):
    images = np.stack([SEVEN] * 4)  # the strict app takes 3 images a request
    response = await strict_client.post(INFER, json={"inputs": [pixels(images)]})
    assert response.status_code == 413 and "limit is 3" in response.json()["error"]


async def test_json_data_of_more_values_than_the_images_allowed_is_413_unparsed(strict_client):
    """As on /v1: refused before the JSON is parsed, where it was a 422 after; the binary
    data's bytes are not the JSON's."""
    flat = {"name": "image", "shape": [1, 28, 28], "datatype": "FP32", "data": [0] * 6000}
    response = await strict_client.post(INFER, json={"inputs": [flat]})
    assert response.status_code == 413 and "at most 3 images" in response.json()["error"]
    three = await strict_client.post(INFER, json={"inputs": [pixels(np.stack([SEVEN] * 3))]})
    assert three.status_code == 200, three.text


async def test_a_body_over_the_limit_is_413_in_the_protocols_shape(strict_client):
    response = await strict_client.post(INFER, content=b"x" * (65 * 1024))
    assert response.status_code == 413 and isinstance(response.json()["error"], str)


def binary_pixels(images: np.ndarray) -> tuple[bytes, dict[str, str]]:
    """A body with ``images`` as raw little-endian FP32 after the JSON header."""
    raw = images.astype("<f4").tobytes()
    described = {
        "name": "image",
        "shape": list(images.shape),
        "datatype": "FP32",
        "parameters": {"binary_data_size": len(raw)},
    }
    header = json.dumps({"inputs": [described]}).encode()
    return header + raw, {"Inference-Header-Content-Length": str(len(header))}


@pytest.mark.parametrize(
    ("bad", "words"),
    [(np.nan, "finite"), (np.inf, "finite"), (-np.inf, "finite"), (-1, "0-255"), (256, "0-255")],
)
async def test_binary_gray_levels_must_be_finite_and_within_0_255(client, bad, words):
    images = SEVEN[None].copy()
    images[0, 3, 4] = bad
    content, headers = binary_pixels(images)
    response = await client.post(INFER, content=content, headers=headers)
    assert response.status_code == 422 and words in response.json()["error"], response.text


async def test_one_version_answers_on_its_own_infer_route(client):
    content, headers = binary_pixels(SEVEN[None])
    response = await client.post(
        "/v2/models/lenet/versions/1/infer", content=content, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["model_version"] == "1"
    missing = await client.post(
        "/v2/models/lenet/versions/9/infer", content=content, headers=headers
    )
    assert missing.status_code == 404 and isinstance(missing.json()["error"], str)


def request_with(
    to_input: dict | None = None, to_output: dict | None = None, **changes: object
) -> dict:
    """A valid request for one digit, with changes made to its input, its one output (a
    ``digit``) or itself."""
    given = {**pixels(SEVEN[None]), **(to_input or {})}
    wanted = {"name": "digit", **(to_output or {})}
    return {"inputs": [given], "outputs": [wanted], **changes}


@pytest.mark.parametrize(
    ("request_body", "words"),
    [
        (request_with(to_output={"parameters": {"binary_data": "false"}}), "binary_data"),
        (request_with(to_output={"parameters": {"binary_data": 1}}), "binary_data"),
        (request_with(parameters={"binary_data_output": "yes"}), "binary_data_output"),
        (request_with(to_input={"shape": ["1", 28, 28]}), "shape.0"),
        (request_with(to_input={"shape": [1.0, 28, 28]}), "shape.0"),
        (request_with(to_input={"shape": [True, 28, 28]}), "shape.0"),
        (request_with(to_input={"shape": [1, 28, 28, 1, 1]}), "5 dimensions"),
        (request_with(to_input={"data": None}), "no data"),
        (request_with(to_input={"parameters": {"binary_data_size": "10"}}), "binary_data_size"),
        (request_with(to_input={"parameters": {"binary_data_size": -1}}), "binary_data_size"),
        (
            request_with(to_input={"parameters": {"binary_data_size": 784}}),
            "data and binary_data_size both given",
        ),
        (request_with(to_input={"datatype": "UINT8", "data": [0.5] * 784}), "whole numbers"),
        (request_with(to_output={"parameters": {"classification": 3}}), "classification"),
        ({**request_with(), "outputs": [{"name": "digit"}, {"name": "digit"}]}, "more than once"),
        (
            request_with(to_output={"parameters": {"shared_memory_region": "out"}}),
            "output digit: the shared memory extensions are not supported",
        ),
        (
            request_with(to_input={"parameters": {"shared_memory_region": "in"}, "data": None}),
            "input image: the shared memory extensions are not supported",
        ),
    ],
    ids=[
        "binary-data-string",
        "binary-data-number",
        "binary-data-output-string",
        "shape-string",
        "shape-float",
        "shape-bool",
        "rank-5",
        "no-data",
        "binary-data-size-string",
        "binary-data-size-negative",
        "data-and-binary-data",
        "uint8-fractions",
        "classification",
        "output-twice",
        "shared-memory-output",
        "shared-memory-input",
    ],
)
async def test_what_the_protocol_types_is_not_taken_for_what_it_might_mean(
    client, request_body, words
):
    response = await client.post(INFER, json=request_body)
    assert response.status_code == 422, response.text
    assert words in response.json()["error"]


async def test_many_outputs_are_refused_in_one_pass_each_named_once(client):
    """Counted, not compared pairwise: 100,000 names in a few kilobytes of gzip held the
    event loop for minutes."""
    for name, words in [("digit", "output(s) digit asked for"), ("conv9", "output(s) conv9;")]:
        request = {**request_with(), "outputs": [{"name": name}] * 100_000}
        response = await client.post(INFER, json=request)
        assert response.status_code == 422 and words in response.json()["error"]
        assert response.json()["error"].count(name) == 1


async def test_a_request_without_its_changes_is_answered(client):
    response = await client.post(INFER, json=request_with())
    assert response.status_code == 200, response.text
    assert output(response.json(), "digit").tolist() == [EXAMPLE_DIGIT]


async def test_bytes_data_is_walked_no_further_than_its_shape(client):
    images = {"name": "image_bytes", "shape": [1], "datatype": "BYTES"}
    for data in (["", ""], [[], [], []], [[["x"]]]):  # an element, or a list a level, too many
        response = await client.post(INFER, json={"inputs": [{**images, "data": data}]})
        assert response.status_code == 422, (data, response.text)
        assert (
            "more than its shape [1] and the limit on images allow: 1 elements"
            in (response.json()["error"])
        )


def test_the_walk_stops_past_what_the_shape_holds():
    """A body of millions of empty elements cost seconds of event loop to walk."""

    class Counted(list):
        taken = 0

        def __iter__(self):
            for item in super().__iter__():
                Counted.taken += 1
                yield item

    with pytest.raises(InvalidInput, match="more than its shape"):
        rest._flat(Counted([[]] * 100_000), [2], most=2)
    assert Counted.taken == 5  # what shape [2] may hold: 2 elements, 2 lists; the 5th ends it


async def test_binary_bytes_are_split_no_further_than_their_shape(client):
    raw = binary_bytes(b"", b"")  # two elements for a shape of one
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "image_bytes",
                    "shape": [1],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        }
    ).encode()
    response = await client.post(
        INFER,
        content=header + raw,
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert response.status_code == 422
    assert (
        "more than its shape and the limit on images allow: 1 elements"
        in (response.json()["error"])
    )


async def test_too_many_images_are_refused_before_their_data_is_read(strict_client):
    """The strict app takes 3 images: the 4 named are refused for their number, not for
    data that reading would refuse."""
    images = {"name": "image_bytes", "shape": [4], "datatype": "BYTES", "data": ["%%"] * 4}
    response = await strict_client.post(INFER, json={"inputs": [images]})
    assert response.status_code == 413 and "limit is 3" in response.json()["error"]


async def test_images_over_the_requests_pixels_are_refused(strict_client):
    """The same bound on all of a request's images as /v1's: 3 of 720,000 pixels each
    against the strict app's 2,000,000."""
    image = base64.b64encode(encode(draw_digit(7, (900, 800)), "PNG")).decode()
    images = {"name": "image_bytes", "shape": [3], "datatype": "BYTES", "data": [image] * 3}
    response = await strict_client.post(INFER, json={"inputs": [images]})
    assert response.status_code == 413
    assert "2000000 pixels together" in response.json()["error"]


@pytest.mark.parametrize("coding", ["gzip", "deflate", "GZip "])
async def test_a_compressed_body_is_read_as_sent(client, coding):
    content, headers = binary_pixels(SEVEN[None])
    compress = gzip.compress if coding.strip().lower() == "gzip" else zlib.compress
    response = await client.post(
        INFER, content=compress(content), headers={**headers, "Content-Encoding": coding}
    )
    assert response.status_code == 200, response.text
    assert output(response.json(), "probabilities").argmax() == EXAMPLE_DIGIT


async def test_a_body_coded_as_nothing_read_here_is_refused_in_the_protocols_shape(client):
    content, headers = binary_pixels(SEVEN[None])
    response = await client.post(
        INFER, content=content, headers={**headers, "Content-Encoding": "br"}
    )
    assert response.status_code == 415 and response.headers["accept-encoding"] == "gzip, deflate"
    assert "Content-Encoding 'br' is not read here" in response.json()["error"]
