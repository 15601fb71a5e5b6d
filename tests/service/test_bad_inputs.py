"""Every bad input is a 4xx, and nothing leaks: a corpus of hostile and broken requests
against ``python -m service`` over a socket, each answered with its documented status in
the one error shape (``/v2``: the protocol's ``{"error": "..."}``); after all of them the
service is ready, reads a real digit right, and its resident memory stays where it was."""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter

import httpx
import numpy as np
import pytest

from service.api.examples import EXAMPLE_ARRAY, EXAMPLE_DIGIT, EXAMPLE_PNG
from tests.service.drawing import draw_digit, encode, png_bomb
from tests.service.processes import free_port, service_env, serving

MAX_BODY = 20 * 1024 * 1024  # the defaults the corpus is served with
MAX_IMAGES = 256
INFER = "/v2/models/lenet/infer"


@dataclass(frozen=True)
class Case:
    """One bad request and the status it must get (with, under /v1, its error code)."""

    status: int
    code: str | None = None
    path: str = "/v1/predict"
    method: str = "POST"
    content: bytes | Callable[[], Iterator[bytes]] | None = None
    content_type: str | None = None
    headers: dict[str, str | bytes] = field(default_factory=dict)
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None

    def send(self, client: httpx.Client) -> httpx.Response:
        headers: dict[str, str | bytes] = dict(self.headers)
        if self.content_type is not None:
            headers["content-type"] = self.content_type
        content = self.content() if callable(self.content) else self.content
        return client.request(
            self.method, self.path, content=content, headers=headers, files=self.files
        )


def raw(content: bytes, content_type: str = "image/png", **kwargs: object) -> dict[str, object]:
    return {"content": content, "content_type": content_type, **kwargs}


def json_body(text: str | bytes, **kwargs: object) -> dict[str, object]:
    data = text.encode() if isinstance(text, str) else text
    return raw(data, "application/json", **kwargs)


def instances(*items: object) -> str:
    return json.dumps({"instances": list(items)})


def grid(value: str) -> str:
    """A 28x28 array as JSON text, its first cell ``value`` (any literal), the rest 0."""
    rows = [[0] * 28 for _ in range(28)]
    return json.dumps(rows).replace("0", value, 1)


def multipart(body: bytes, boundary: str | None = "b") -> dict[str, object]:
    content_type = "multipart/form-data" + (f"; boundary={boundary}" if boundary else "")
    return raw(body, content_type)


def part(name: str, content: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--b\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels, with almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(bytes(64))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) claims ``width`` x ``height``."""
    data = bytearray(encode(draw_digit(7, (64, 64)).convert("RGB"), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def flipped(data: bytes, offset: int) -> bytes:
    damaged = bytearray(data)
    damaged[offset] ^= 0xFF
    return bytes(damaged)


def v2_request(*inputs: dict[str, object], **extra: object) -> bytes:
    return json.dumps({"inputs": list(inputs), **extra}).encode()


def pixels(shape: list[int], data: object, datatype: str = "UINT8") -> dict[str, object]:
    return {"name": "image", "shape": shape, "datatype": datatype, "data": data}


def binary(header: dict[str, object], data: bytes, length: str | None = None) -> dict[str, object]:
    head = json.dumps(header).encode()
    return {
        "content": head + data,
        "headers": {"inference-header-content-length": length or str(len(head))},
    }


def binary_input(size: int, datatype: str = "UINT8") -> dict[str, object]:
    """One 28x28 digit sent as ``size`` bytes of binary data."""
    return {
        "inputs": [
            {
                "name": "image",
                "shape": [1, 28, 28],
                "datatype": datatype,
                "parameters": {"binary_data_size": size},
            }
        ]
    }


def binary_bytes_input(size: int) -> dict[str, object]:
    """One encoded image sent as ``size`` bytes of binary data (length-prefixed elements)."""
    return {
        "inputs": [
            {
                "name": "image_bytes",
                "shape": [1],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": size},
            }
        ]
    }


def chunks(total: int) -> Iterator[bytes]:
    for _ in range(total // (1 << 20)):
        yield bytes(1 << 20)


PNG = encode(draw_digit(7), "PNG")
JPEG = encode(draw_digit(7).convert("RGB"), "JPEG")
TIFF = encode(draw_digit(7), "TIFF")
BOMB = png_bomb(12_000, 12_000)  # a true 144-megapixel image, in some 20 kB
CLAIM = png_claiming(50_000, 50_000)  # 2.5 gigapixels in a header, and nothing behind it
B64_PNG = base64.b64encode(PNG).decode()
DEEP = 50_000
SEVEN = np.asarray(EXAMPLE_ARRAY, np.uint8)

CORPUS: dict[str, Case] = {
    # Images: empty, truncated, bit-flipped, mislabelled, bombs.
    "empty raw image": Case(400, "bad_request", **raw(b"")),
    "empty file part": Case(400, "bad_request", files=[("file", ("7.png", b"", "image/png"))]),
    "truncated png": Case(400, "bad_request", **raw(PNG[: len(PNG) // 2])),
    "truncated jpeg": Case(400, "bad_request", **raw(JPEG[:400], "image/jpeg")),
    "png signature only": Case(400, "bad_request", **raw(PNG[:8])),
    "png with its pixels bit-flipped": Case(400, "bad_request", **raw(flipped(PNG, len(PNG) // 2))),
    "png with its header bit-flipped": Case(400, "bad_request", **raw(flipped(PNG, 1))),
    "jpeg with its markers bit-flipped": Case(
        400, "bad_request", **raw(flipped(flipped(JPEG, 2), 3), "image/jpeg")
    ),
    "random bytes as png": Case(400, "bad_request", **raw(bytes(range(256)) * 8)),
    "text as png": Case(400, "bad_request", **raw(b"a seven, honestly")),
    "tiff as png (a format not accepted)": Case(400, "bad_request", **raw(TIFF)),
    "png as json": Case(400, "bad_request", **raw(PNG, "application/json")),
    "png as text/plain": Case(415, "unsupported_media_type", **raw(PNG, "text/plain")),
    "svg": Case(415, "unsupported_media_type", **raw(b"<svg/>", "image/svg+xml")),
    "no content type": Case(415, "unsupported_media_type", content=PNG),
    "a form, not multipart": Case(
        415, "unsupported_media_type", **raw(b"a=1", "application/x-www-form-urlencoded")
    ),
    "png claiming 50000x50000": Case(413, "payload_too_large", **raw(CLAIM)),
    "png decoding to 12000x12000": Case(413, "payload_too_large", **raw(BOMB)),
    "jpeg claiming 65535x65535": Case(
        413, "payload_too_large", **raw(jpeg_claiming(65_535, 65_535), "image/jpeg")
    ),
    "png bomb as a file": Case(
        413, "payload_too_large", files=[("file", ("bomb.png", BOMB, "image/png"))]
    ),
    "png bomb as b64": Case(
        413, "payload_too_large", **json_body(instances({"b64": base64.b64encode(BOMB).decode()}))
    ),
    "png bomb to read": Case(413, "payload_too_large", path="/v1/read", **raw(BOMB)),
    # JSON, malformed in every way.
    "json cut short": Case(400, "bad_request", **json_body('{"instances": [')),
    "json with trailing bytes": Case(400, "bad_request", **json_body(instances() + " x")),
    "arrays nested 50000 deep": Case(
        400, "bad_request", **json_body('{"instances": ' + "[" * DEEP + "]" * DEEP + "}")
    ),
    "objects nested 50000 deep": Case(
        400, "bad_request", **json_body('{"a": ' * DEEP + "1" + "}" * DEEP)
    ),
    "arrays nested 900 deep": Case(
        422, "invalid_input", **json_body('{"instances": [' + "[" * 900 + "]" * 900 + "]}")
    ),
    "NaN": Case(422, "invalid_input", **json_body(f'{{"instances": [{grid("NaN")}]}}')),
    "Infinity": Case(422, "invalid_input", **json_body(f'{{"instances": [{grid("-Infinity")}]}}')),
    "1e999": Case(422, "invalid_input", **json_body(f'{{"instances": [{grid("1e999")}]}}')),
    "an integer of 400 digits": Case(
        422, "invalid_input", **json_body(f'{{"instances": [{grid("1" + "0" * 400)}]}}')
    ),
    "an integer of 5000 digits": Case(
        400, "bad_request", **json_body(f'{{"instances": [{grid("1" + "0" * 5000)}]}}')
    ),
    "invalid utf-8": Case(400, "bad_request", **json_body(b'{"instances": ["\xff\xfe"]}')),
    "a ragged array": Case(
        422, "invalid_input", **json_body(instances([[0] * 28] * 27 + [[0] * 27]))
    ),
    "a 27x28 array": Case(422, "invalid_input", **json_body(instances([[0] * 28] * 27))),
    "strings for gray levels": Case(
        422, "invalid_input", **json_body(instances([["0"] * 28] * 28))
    ),
    "booleans for gray levels": Case(
        422, "invalid_input", **json_body(instances([[True] * 28] * 28))
    ),
    "gray levels over 255": Case(422, "invalid_input", **json_body(instances([[256] * 28] * 28))),
    "a null instance": Case(422, "invalid_input", **json_body(instances(None))),
    "an empty batch": Case(422, "invalid_input", **json_body(instances())),
    "instances not a list": Case(422, "invalid_input", **json_body('{"instances": "seven"}')),
    "no instances": Case(422, "invalid_input", **json_body("{}")),
    "a top-level array": Case(422, "invalid_input", **json_body("[[0]]")),
    "an unknown key beside b64": Case(
        422, "invalid_input", **json_body(instances({"b64": B64_PNG, "x": 1}))
    ),
    "b64 that is not base64": Case(400, "bad_request", **json_body(instances({"b64": "?!"}))),
    "b64 of nothing": Case(400, "bad_request", **json_body(instances({"b64": ""}))),
    "b64 of text": Case(
        400, "bad_request", **json_body(instances({"b64": base64.b64encode(b"7").decode()}))
    ),
    "200000 tiny instances": Case(
        413, "payload_too_large", **json_body('{"instances": [' + ",".join(["[]"] * 200_000) + "]}")
    ),
    "200000 tiny b64 instances": Case(
        413, "payload_too_large", **json_body(instances(*[{"b64": ""}] * 200_000))
    ),
    # Sizes.
    "a body over the limit": Case(413, "payload_too_large", **raw(bytes(MAX_BODY + 1))),
    "a chunked body over the limit": Case(
        413,
        "payload_too_large",
        content=lambda: chunks(MAX_BODY + (1 << 20)),
        content_type="image/png",
    ),
    "257 files": Case(
        413,
        "payload_too_large",
        files=[("f", (f"{i}.png", PNG, "image/png")) for i in range(MAX_IMAGES + 1)],
    ),
    "257 arrays": Case(413, "payload_too_large", **json_body(instances(*[EXAMPLE_ARRAY] * 257))),
    "nine million gray levels in one array": Case(
        413, "payload_too_large", **json_body(instances([0] * 9_000_000))
    ),
    "784 gray levels, unshaped": Case(422, "invalid_input", **json_body(instances(*[0] * 784))),
    "two images to read": Case(
        422, "invalid_input", path="/v1/read", files=[("a", ("a.png", PNG, "image/png"))] * 2
    ),
    "an array to read": Case(
        422, "invalid_input", path="/v1/read", **json_body(instances(EXAMPLE_ARRAY))
    ),
    # Query parameters.
    "an unknown backend": Case(422, "invalid_input", path="/v1/predict?backend=torch", **raw(PNG)),
    "a backend not loaded": Case(
        422, "invalid_input", path="/v1/predict?backend=tensorflow", **raw(PNG)
    ),
    "a version not served": Case(404, "not_found", path="/v1/predict?version=7", **raw(PNG)),
    "a version of superscript digits": Case(
        404, "not_found", path="/v1/predict?version=%C2%B2", **raw(PNG)
    ),
    "a version of 5000 digits": Case(
        404, "not_found", path="/v1/model?version=" + "9" * 5000, method="GET"
    ),
    "an unknown preprocess": Case(
        422, "invalid_input", path="/v1/predict?preprocess=sharpen", **raw(PNG)
    ),
    "digit 10": Case(422, "invalid_input", path="/v1/explain?digit=10", **raw(PNG)),
    "digit seven": Case(422, "invalid_input", path="/v1/explain?digit=seven", **raw(PNG)),
    "an unknown encoding": Case(
        422, "invalid_input", path="/v1/activations?encoding=xml", **raw(PNG)
    ),
    "an unknown layer": Case(404, "not_found", path="/v1/activations?layers=conv9", **raw(PNG)),
    "an unknown layer's picture": Case(
        404, "not_found", path="/v1/activations/conv9.png", method="GET"
    ),
    # Multipart, malformed.
    "multipart without a boundary": Case(400, "bad_request", **multipart(PNG, boundary=None)),
    "multipart with another boundary": Case(
        400, "bad_request", **multipart(part("file", PNG, "7.png"), boundary="zz")
    ),
    "multipart with no parts": Case(422, "invalid_input", **multipart(b"--b--\r\n")),
    "multipart empty": Case(400, "bad_request", **multipart(b"")),
    "multipart with a text part only": Case(
        422, "invalid_input", **multipart(part("file", b"a seven") + b"--b--\r\n")
    ),
    "multipart part without a name": Case(
        400,
        "bad_request",
        **multipart(b'--b\r\nContent-Disposition: form-data; filename="7.png"\r\n\r\n' + PNG),
    ),
    "multipart cut mid-part": Case(
        400, "bad_request", **multipart(part("file", PNG, "7.png")[:200])
    ),
    # /v2 infer: the same kinds, in the protocol's shape.
    "v2 empty body": Case(400, path=INFER, content=b""),
    "v2 json cut short": Case(400, path=INFER, content=b'{"inputs": ['),
    "v2 arrays nested 50000 deep": Case(
        400, path=INFER, content=b'{"inputs": ' + b"[" * DEEP + b"]" * DEEP + b"}"
    ),
    "v2 NaN": Case(400, path=INFER, content=v2_request(pixels([1], [0])).replace(b"0]", b"NaN]")),
    "v2 invalid utf-8": Case(400, path=INFER, content=b'{"id": "\xff", "inputs": []}'),
    "v2 not an object": Case(422, path=INFER, content=b"[]"),
    "v2 no inputs": Case(422, path=INFER, content=b"{}"),
    "v2 no input at all": Case(422, path=INFER, content=v2_request()),
    "v2 an unknown input": Case(
        422,
        path=INFER,
        content=v2_request({"name": "x", "shape": [1], "datatype": "FP32", "data": [0]}),
    ),
    "v2 a shape that does not hold the data": Case(
        422, path=INFER, content=v2_request(pixels([2, 28, 28], SEVEN.tolist()))
    ),
    "v2 a negative dimension": Case(422, path=INFER, content=v2_request(pixels([-1, 28, 28], [0]))),
    "v2 an unknown datatype": Case(
        422, path=INFER, content=v2_request(pixels([1, 28, 28], SEVEN.tolist(), "FP128"))
    ),
    "v2 gray levels over 255": Case(
        422, path=INFER, content=v2_request(pixels([1, 28, 28], [[[300] * 28] * 28], "FP32"))
    ),
    "v2 ragged data": Case(422, path=INFER, content=v2_request(pixels([1, 28, 28], [[1], [1, 2]]))),
    "v2 strings for gray levels": Case(
        422, path=INFER, content=v2_request(pixels([1, 28, 28], ["0"] * 784))
    ),
    "v2 BYTES not base64": Case(
        400,
        path=INFER,
        content=v2_request(
            {"name": "image_bytes", "shape": [1], "datatype": "BYTES", "data": ["?!"]}
        ),
    ),
    "v2 BYTES not an image": Case(
        400,
        path=INFER,
        content=v2_request(
            {"name": "image_bytes", "shape": [1], "datatype": "BYTES", "data": ["AAAA"]}
        ),
    ),
    "v2 BYTES a png bomb": Case(
        413,
        path=INFER,
        content=v2_request(
            {
                "name": "image_bytes",
                "shape": [1],
                "datatype": "BYTES",
                "data": [base64.b64encode(BOMB).decode()],
            }
        ),
    ),
    "v2 a batch over the limit": Case(
        413, path=INFER, content=v2_request(pixels([MAX_IMAGES + 1, 28, 28], [0]))
    ),
    "v2 nine million gray levels": Case(
        413, path=INFER, content=v2_request(pixels([1, 28, 28], [0] * 9_000_000))
    ),
    "v2 an unknown output": Case(
        422,
        path=INFER,
        content=v2_request(pixels([1, 28, 28], SEVEN.tolist()), outputs=[{"name": "x"}]),
    ),
    "v2 an unknown model": Case(404, path="/v2/models/alexnet/infer", content=v2_request()),
    "v2 a version not served": Case(
        404, path="/v2/models/lenet/versions/7/infer", content=v2_request()
    ),
    "v2 a header length of -1": Case(
        400, path=INFER, content=b"{}", headers={"inference-header-content-length": "-1"}
    ),
    "v2 a header length past the body": Case(
        400, path=INFER, content=b"{}", headers={"inference-header-content-length": "3"}
    ),
    "v2 a header length of superscript digits": Case(
        400, path=INFER, content=b"{}", headers={"inference-header-content-length": b"\xb2"}
    ),
    "v2 a header length of 5000 digits": Case(
        400, path=INFER, content=b"{}", headers={"inference-header-content-length": "9" * 5000}
    ),
    "v2 a header length cutting the json": Case(
        400, path=INFER, **binary(binary_input(784), bytes(784), length="10")
    ),
    "v2 binary data past the body's end": Case(
        422, path=INFER, **binary(binary_input(784), bytes(100))
    ),
    "v2 binary data left over": Case(422, path=INFER, **binary(binary_input(784), bytes(800))),
    "v2 binary data size true": Case(422, path=INFER, **binary(binary_input(True), bytes(1))),
    "v2 binary FP32 of a byte short": Case(
        422, path=INFER, **binary(binary_input(3135, "FP32"), bytes(3135))
    ),
    "v2 binary BYTES cut inside an element": Case(
        422,
        path=INFER,
        **binary(
            binary_bytes_input(8),
            struct.pack("<I", 100) + b"abcd",
        ),
    ),
    "v2 binary 100000 empty BYTES": Case(
        422,
        path=INFER,
        **binary(
            binary_bytes_input(400_000),
            bytes(400_000),
        ),
    ),
}


def check(case: Case, response: httpx.Response) -> None:
    """The documented status, in the one error shape of its API, and nothing else."""
    assert response.status_code == case.status, response.text[:300]
    body = response.json()
    assert set(body) == {"error"} and "Traceback" not in response.text
    if case.path.startswith("/v2"):
        assert isinstance(body["error"], str) and body["error"]
    else:
        assert body["error"]["status"] == case.status and body["error"]["code"] == case.code
        assert body["error"]["message"]


def resident_mb(client: httpx.Client) -> float:
    """The server's resident memory, as its own /metrics reports it."""
    text = client.get("/metrics").text
    return float(re.search(r"^process_resident_memory_bytes (\S+)$", text, re.M)[1]) / 2**20


def reads_a_seven(client: httpx.Client) -> bool:
    files = {"file": ("7.png", EXAMPLE_PNG, "image/png")}
    response = client.post("/v1/predict", files=files)
    return response.json()["predictions"][0]["digit"] == EXAMPLE_DIGIT


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    env = service_env(free_port(), LENET_BACKENDS='["numpy","onnx"]', LENET_ACCESS_LOG="false")
    with serving(env) as url, httpx.Client(base_url=url, timeout=60) as http:
        yield http


@pytest.mark.parametrize("name", list(CORPUS))
def test_a_bad_input_gets_its_status_in_the_error_shape(client, name):
    case = CORPUS[name]
    check(case, case.send(client))


def tally(cases: Iterable[Case]) -> str:
    """The cases by API and status, as docs/reliability.md quotes them: "/v1 26 × 400, ..."."""
    counts = Counter(("/v2" if c.path.startswith("/v2") else "/v1", c.status) for c in cases)
    return "; ".join(
        f"{api} " + ", ".join(f"{counts[api, status]} × {status}" for _, status in group)
        for api, group in groupby(sorted(counts), key=itemgetter(0))
    )


def test_after_the_corpus_the_service_is_ready_right_and_no_larger(client):
    """Twice through the corpus: the first run reaches every error path (whatever each
    allocates once); the second must leave the resident memory where it found it."""
    assert reads_a_seven(client)
    first = resident_mb(client)
    for case in CORPUS.values():
        case.send(client)
    before = resident_mb(client)
    for case in CORPUS.values():
        check(case, case.send(client))
    after = resident_mb(client)
    assert client.get("/readyz").status_code == 200
    assert reads_a_seven(client)
    print(f"resident MB: {first:.1f} at first, {before:.1f} after a pass, {after:.1f} after two")
    print(f"corpus: {len(CORPUS)} requests; {tally(CORPUS.values())}")
    assert abs(after - before) < 5, (before, after)
