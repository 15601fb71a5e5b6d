"""/v2 proven with Triton's own clients: tritonclient.http (JSON and binary data), its
asyncio twin and tritonclient.grpc, against one real ``python -m service`` process serving
both protocols, and compared with what /v1 answers on the same process."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import tritonclient.http.aio as httpclient_aio
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from evaluation.photoset import load_digits
from tests.service.drawing import draw_digit, encode
from tests.service.observability.scraping import Samples, moved, parse
from tests.service.processes import ROOT, free_port, service_env, serving

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "mnist-test-sample.npz"
DIGITS = load_digits(SAMPLE)
BATCH = DIGITS.images[:16].astype(np.float32)[..., None]  # (16, 28, 28, 1) gray levels
PHOTO = encode(draw_digit(4, (320, 240), offset=(30, -10), scale=0.6), "JPEG")


@dataclass(frozen=True)
class Server:
    http: str  # host:port, as tritonclient wants it
    grpc: str


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    grpc_port = free_port()
    env = service_env(free_port(), LENET_GRPC_PORT=str(grpc_port), LENET_BACKENDS='["onnx"]')
    with serving(env) as url:
        yield Server(url.removeprefix("http://"), f"127.0.0.1:{grpc_port}")


def v1_predictions(server: Server, **body: object) -> list[dict]:
    response = httpx.post(f"http://{server.http}/v1/predict", **body)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def v1_layer(server: Server, layer: str) -> np.ndarray:
    response = httpx.post(
        f"http://{server.http}/v1/activations?layers={layer}",
        json={"instances": [BATCH[0, :, :, 0].tolist()]},
    )
    return np.asarray(response.json()["layers"][0]["data"], np.float32)


@pytest.fixture(scope="module")
def v1_batch(server: Server) -> np.ndarray:
    predictions = v1_predictions(server, json={"instances": BATCH[..., 0].tolist()})
    return np.array([p["probabilities"] for p in predictions], np.float32)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_http_client_reads_a_batch_as_v1_does(server: Server, v1_batch, binary: bool) -> None:
    client = httpclient.InferenceServerClient(server.http)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("lenet") and client.is_model_ready("lenet", "1")
    metadata = client.get_model_metadata("lenet")
    assert [i["name"] for i in metadata["inputs"]] == ["image", "image_bytes"]
    given = httpclient.InferInput("image", list(BATCH.shape), "FP32")
    given.set_data_from_numpy(BATCH, binary_data=binary)
    wanted = [
        httpclient.InferRequestedOutput("probabilities", binary_data=binary),
        httpclient.InferRequestedOutput("digit", binary_data=binary),
    ]
    result = client.infer("lenet", [given], outputs=wanted, request_id="batch-1")
    assert result.get_response()["id"] == "batch-1"
    np.testing.assert_allclose(result.as_numpy("probabilities"), v1_batch, atol=1e-6)
    assert result.as_numpy("digit").tolist() == v1_batch.argmax(axis=1).tolist()
    assert (result.as_numpy("digit") == DIGITS.labels[:16]).mean() >= 0.9


def test_http_client_reads_a_photo_and_a_layer(server: Server) -> None:
    client = httpclient.InferenceServerClient(server.http)
    photo = httpclient.InferInput("image_bytes", [1], "BYTES")
    photo.set_data_from_numpy(np.array([PHOTO], dtype=object))
    result = client.infer(
        "lenet",
        [photo],
        outputs=[httpclient.InferRequestedOutput(n) for n in ("probabilities", "box")],
    )
    (v1,) = v1_predictions(server, files={"file": ("four.jpg", PHOTO, "image/jpeg")})
    np.testing.assert_allclose(result.as_numpy("probabilities")[0], v1["probabilities"], atol=1e-6)
    assert result.as_numpy("box").tolist() == [v1["box"]] and v1["digit"] == 4
    one = httpclient.InferInput("image", [1, 28, 28, 1], "FP32")
    one.set_data_from_numpy(BATCH[:1])
    layer = client.infer("lenet", [one], outputs=[httpclient.InferRequestedOutput("pool1")])
    np.testing.assert_allclose(layer.as_numpy("pool1")[0], v1_layer(server, "pool1"), atol=1e-6)


def test_http_client_gets_the_protocols_errors(server: Server) -> None:
    client = httpclient.InferenceServerClient(server.http)
    assert not client.is_model_ready("resnet")
    wrong = httpclient.InferInput("image", [1, 28, 28], "INT64")
    wrong.set_data_from_numpy(np.zeros((1, 28, 28), np.int64))
    with pytest.raises(InferenceServerException, match="UINT8 or FP32"):
        client.infer("lenet", [wrong])


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_http_client_compresses_its_request(server: Server, v1_batch, algorithm: str) -> None:
    client = httpclient.InferenceServerClient(server.http)
    for binary in (True, False):
        given = httpclient.InferInput("image", list(BATCH.shape), "FP32")
        given.set_data_from_numpy(BATCH, binary_data=binary)
        result = client.infer(
            "lenet",
            [given],
            request_compression_algorithm=algorithm,
            response_compression_algorithm=algorithm,  # answered plain, which it reads too
        )
        np.testing.assert_allclose(result.as_numpy("probabilities"), v1_batch, atol=1e-6)


def test_http_client_asking_for_classification_is_told_it_is_not_there(server: Server) -> None:
    client = httpclient.InferenceServerClient(server.http)
    given = httpclient.InferInput("image", [1, *BATCH.shape[1:]], "FP32")
    given.set_data_from_numpy(BATCH[:1])
    wanted = [httpclient.InferRequestedOutput("probabilities", class_count=3)]
    with pytest.raises(InferenceServerException, match="classification extension"):
        client.infer("lenet", [given], outputs=wanted)


def test_http_asyncio_client(server: Server, v1_batch) -> None:
    async def run() -> np.ndarray:
        client = httpclient_aio.InferenceServerClient(server.http)
        try:
            assert await client.is_server_ready()
            given = httpclient_aio.InferInput("image", list(BATCH.shape), "FP32")
            given.set_data_from_numpy(BATCH)
            result = await client.infer("lenet", [given])
            return result.as_numpy("probabilities")
        finally:
            await client.close()

    np.testing.assert_allclose(asyncio.run(run()), v1_batch, atol=1e-6)


def test_grpc_client_reads_a_batch_a_photo_and_a_layer(server: Server, v1_batch) -> None:
    client = grpcclient.InferenceServerClient(server.grpc)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("lenet") and not client.is_model_ready("resnet")
    assert client.get_server_metadata().name == "lenet-serve"
    metadata = client.get_model_metadata("lenet")
    assert [i.name for i in metadata.inputs] == ["image", "image_bytes"]
    given = grpcclient.InferInput("image", list(BATCH.shape), "FP32")
    given.set_data_from_numpy(BATCH)
    result = client.infer(
        "lenet",
        [given],
        outputs=[grpcclient.InferRequestedOutput(n) for n in ("probabilities", "digit")],
        request_id="g-1",
    )
    assert result.get_response().id == "g-1"
    np.testing.assert_allclose(result.as_numpy("probabilities"), v1_batch, atol=1e-6)
    assert result.as_numpy("digit").tolist() == v1_batch.argmax(axis=1).tolist()
    photo = grpcclient.InferInput("image_bytes", [1], "BYTES")
    photo.set_data_from_numpy(np.array([PHOTO], dtype=object))
    (v1,) = v1_predictions(server, files={"file": ("four.jpg", PHOTO, "image/jpeg")})
    read = client.infer("lenet", [photo], outputs=[grpcclient.InferRequestedOutput("box")])
    assert read.as_numpy("box").tolist() == [v1["box"]]
    one = grpcclient.InferInput("image", [1, 28, 28, 1], "FP32")
    one.set_data_from_numpy(BATCH[:1])
    layer = client.infer("lenet", [one], outputs=[grpcclient.InferRequestedOutput("conv3")])
    np.testing.assert_allclose(layer.as_numpy("conv3")[0], v1_layer(server, "conv3"), atol=1e-6)


def test_grpc_client_gets_status_codes(server: Server) -> None:
    client = grpcclient.InferenceServerClient(server.grpc)
    wrong = grpcclient.InferInput("image", [1, 27, 28], "FP32")
    wrong.set_data_from_numpy(np.zeros((1, 27, 28), np.float32))
    with pytest.raises(InferenceServerException, match="INVALID_ARGUMENT"):
        client.infer("lenet", [wrong])
    with pytest.raises(InferenceServerException, match="NOT_FOUND"):
        client.get_model_metadata("lenet", "9")


def test_grpc_typed_contents(server: Server, v1_batch) -> None:
    """Typed ``contents`` rather than raw bytes: what clients that build the messages
    themselves may send (on grpcio's asyncio channel, as tritonclient.grpc.aio runs)."""

    async def run() -> np.ndarray:
        async with grpc.aio.insecure_channel(server.grpc) as channel:
            stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
            request = service_pb2.ModelInferRequest(model_name="lenet")
            tensor = request.inputs.add(name="image", datatype="FP32", shape=list(BATCH.shape))
            tensor.contents.fp32_contents.extend(BATCH.ravel().tolist())
            request.outputs.add(name="probabilities")
            response = await stub.ModelInfer(request)
            return np.frombuffer(response.raw_output_contents[0], "<f4").reshape(-1, 10)

    np.testing.assert_allclose(asyncio.run(run()), v1_batch, atol=1e-6)


def readme_snippets() -> list[str]:
    """The README's client snippets: its Python blocks that use tritonclient."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    return [block for block in blocks if "tritonclient" in block]


def test_the_readme_client_snippets_run_as_written(server: Server) -> None:
    snippets = readme_snippets()
    assert len(snippets) == 3
    for snippet in snippets:
        code = snippet.replace("localhost:8000", server.http).replace("localhost:8001", server.grpc)
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        first = done.stdout.split()[0]
        assert first in ("[7]", "[1", "(1,"), done.stdout


def test_both_protocols_are_counted_in_the_metrics(server: Server) -> None:
    def scraped() -> Samples:
        return parse(httpx.get(f"http://{server.http}/metrics").text)

    before = scraped()
    client = grpcclient.InferenceServerClient(server.grpc)
    given = grpcclient.InferInput("image", [1, 28, 28, 1], "FP32")
    given.set_data_from_numpy(BATCH[:1])
    client.infer("lenet", [given])
    wrong = grpcclient.InferInput("image", [1, 27, 28], "FP32")
    wrong.set_data_from_numpy(np.zeros((1, 27, 28), np.float32))
    with pytest.raises(InferenceServerException):
        client.infer("lenet", [wrong])
    httpclient.InferenceServerClient(server.http).is_model_ready("lenet")
    after = scraped()
    infer = "/inference.GRPCInferenceService/ModelInfer"
    counted = "lenet_requests_total"
    assert moved(before, after, counted, protocol="grpc", route=infer, status="OK") == 1
    assert (
        moved(before, after, counted, protocol="grpc", route=infer, status="INVALID_ARGUMENT") == 1
    )
    ready = "/v2/models/{name}/ready"
    assert moved(before, after, counted, protocol="v2", route=ready, status="200") == 1
