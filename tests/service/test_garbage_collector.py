"""service.garbage_collector: the young pass is made less often, which keeps no more memory
because an HTTP request leaves no cycles for it to find."""

from __future__ import annotations

import gc
import json
from collections import Counter
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from starlette.types import Message, Scope

from service.api.examples import EXAMPLE_ARRAY, EXAMPLE_PNG
from service.app import create_app
from service.settings import Settings
from tests.service.conftest import MODEL_ROOT

pytestmark = pytest.mark.anyio

ARRAY = json.dumps({"instances": [EXAMPLE_ARRAY]}).encode()
V2_INPUT = {"name": "image", "shape": [1, 28, 28], "datatype": "UINT8", "data": EXAMPLE_ARRAY}
V2_ARRAY = json.dumps({"inputs": [V2_INPUT]}).encode()
BOUNDARY = "digits"
FORM = (
    (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="7.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    + EXAMPLE_PNG
    + f"\r\n--{BOUNDARY}--\r\n".encode()
)
REQUESTS = [  # method, path, query, content type, body, the status it answers
    ("POST", "/v1/predict", "backend=onnx", "application/json", ARRAY, 200),
    ("POST", "/v1/predict", "backend=numpy", "application/json", ARRAY, 200),
    ("POST", "/v1/predict", "backend=tensorflow", "application/json", ARRAY, 200),
    ("POST", "/v1/predict", "", "image/png", EXAMPLE_PNG, 200),
    ("POST", "/v1/predict", "", f"multipart/form-data; boundary={BOUNDARY}", FORM, 200),
    ("POST", "/v1/activations", "layers=conv1", "application/json", ARRAY, 200),
    ("POST", "/v1/explain", "backend=numpy", "image/png", EXAMPLE_PNG, 200),
    ("POST", "/v2/models/lenet/infer", "", "application/json", V2_ARRAY, 200),
    ("GET", "/metrics", "", "text/plain", b"", 200),
    ("POST", "/v1/predict", "", "image/png", b"not an image", 400),
    ("POST", "/v1/predict", "", "application/json", b'{"instances": [[1, 2]]}', 422),
    ("POST", "/v1/predict", "", "application/json", b'{"instances": [', 400),
    ("POST", "/v2/models/lenet/infer", "", "application/json", b'{"inputs": 5}', 422),
    ("GET", "/v1/nowhere", "", "text/plain", b"", 404),
]


@pytest.fixture
def threshold_kept() -> Iterator[None]:
    """The process's thresholds as they were, after a test that sets them."""
    kept = gc.get_threshold()
    yield
    gc.set_threshold(*kept)


async def answer(app: FastAPI, method: str, path: str, query: str, kind: str, body: bytes) -> int:
    """The status ``app`` answers, called as uvicorn calls it: no client objects of a test
    library in the process, whose own cycles would hide the app's."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"test"), (b"content-type", kind.encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    status = 0

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def test_http_requests_answered_or_refused_leave_no_cycles_behind(app: FastAPI) -> None:
    """With the collector off, what a pass then finds is what the requests left: objects
    that only it could free, kept until it runs (``LENET_GC_THRESHOLD`` allocations later)."""
    for request in REQUESTS:  # first requests warm caches and import lazily, once
        await answer(app, *request[:-1])
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            for *request, status in REQUESTS:
                assert await answer(app, *request) == status, request
        gc.set_debug(gc.DEBUG_SAVEALL)  # what a pass frees is kept in gc.garbage, to name
        found = gc.collect()
    finally:
        gc.set_debug(0)
        gc.enable()
    left = Counter(type(thing).__name__ for thing in gc.garbage)
    gc.garbage.clear()
    assert found == 0, left.most_common(10)


def test_the_app_sets_the_young_threshold_and_keeps_the_older_ones(threshold_kept: None) -> None:
    _, middle, oldest = gc.get_threshold()
    create_app(Settings(model_root=MODEL_ROOT, backends=["numpy"], gc_threshold=1234))
    assert gc.get_threshold() == (1234, middle, oldest)
