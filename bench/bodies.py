"""The request bodies every HTTP benchmark sends: one MNIST digit, as PNG and as JSON to
``/v1/predict``, and as the Open Inference Protocol's JSON and binary tensor bodies to
``/v2/models/lenet/infer``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from service.api.examples import EXAMPLE_ARRAY, EXAMPLE_DIGIT, EXAMPLE_PNG

V1_PATH = "/v1/predict"
V2_PATH = "/v2/models/lenet/infer"
HEADER_LENGTH = "Inference-Header-Content-Length"
"""The binary tensor data extension's header: how many bytes of the body are its JSON."""


@dataclass(frozen=True)
class Body:
    """One request body, where it goes, its headers, and the digit a correct server answers."""

    name: str
    content_type: str
    data: bytes
    path: str = V1_PATH
    headers: Mapping[str, str] = field(default_factory=dict)
    """Sent besides ``Content-Type``."""
    digit: int = EXAMPLE_DIGIT

    def asgi_scope(self) -> dict[str, Any]:
        """The request as uvicorn hands it to an app (no ``X-Request-ID``), for the benchmarks
        that call an app in-process, without sockets."""
        headers = [
            (b"host", b"bench"),
            (b"content-type", self.content_type.encode()),
            (b"content-length", str(len(self.data)).encode()),
            *((name.lower().encode(), value.encode()) for name, value in self.headers.items()),
        ]
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": self.path,
            "raw_path": self.path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }


def example_image() -> np.ndarray:
    """The example digit as v2's ``image`` input: FP32 gray levels 0–255, shape [1,28,28,1]."""
    return np.asarray(EXAMPLE_ARRAY, dtype="<f4").reshape(1, 28, 28, 1)


def _v2_json() -> Body:
    """The same 784 gray levels as the /v1 JSON body, flat, both outputs in JSON."""
    image = {"name": "image", "shape": [1, 28, 28, 1], "datatype": "FP32"}
    request = {
        "inputs": [image | {"data": np.asarray(EXAMPLE_ARRAY).ravel().tolist()}],
        "outputs": [{"name": "probabilities"}, {"name": "digit"}],
    }
    return Body("v2-json", "application/json", orjson.dumps(request), V2_PATH)


def _v2_binary() -> Body:
    """The image as raw little-endian FP32 after the JSON header, probabilities asked back as
    binary (the digit stays in JSON, where the answer is checked), as Triton's clients send."""
    raw = example_image().tobytes()
    request = {
        "inputs": [
            {
                "name": "image",
                "shape": [1, 28, 28, 1],
                "datatype": "FP32",
                "parameters": {"binary_data_size": len(raw)},
            }
        ],
        "outputs": [
            {"name": "probabilities", "parameters": {"binary_data": True}},
            {"name": "digit"},
        ],
    }
    header = orjson.dumps(request)
    return Body(
        "v2-binary",
        "application/octet-stream",
        header + raw,
        V2_PATH,
        headers={HEADER_LENGTH: str(len(header))},
    )


PNG = Body("png", "image/png", EXAMPLE_PNG)
JSON = Body("json", "application/json", orjson.dumps({"instances": [EXAMPLE_ARRAY]}))
BODIES = {body.name: body for body in (PNG, JSON)}
"""What ``/v1/predict`` takes (``bench.stages`` times each through its functions)."""
V2_BODIES = {body.name: body for body in (_v2_json(), _v2_binary())}
"""The Open Inference Protocol's REST bodies, for servers that speak it (ours only)."""
