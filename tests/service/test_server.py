"""One real uvicorn process over a socket, started the way users start it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.service.conftest import MODEL_ROOT
from tests.service.drawing import draw_digit, encode

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_python_m_service_serves_predictions_over_a_socket():
    port = free_port()
    env = {
        **os.environ,
        "LENET_PORT": str(port),
        "LENET_HOST": "127.0.0.1",
        "LENET_MODEL_ROOT": str(MODEL_ROOT),
        "LENET_BACKENDS": '["numpy"]',
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "service"], cwd=ROOT, env=env, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stderr.read().decode()
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server never became ready"
            time.sleep(0.2)
        files = {"file": ("seven.png", encode(draw_digit(7), "PNG"), "image/png")}
        response = httpx.post(f"{url}/v1/predict", files=files)
        assert response.status_code == 200
        assert response.json()["predictions"][0]["digit"] == 7
        assert response.json()["backend"] == "numpy"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_numpy_only_serving_never_imports_tensorflow():
    """A slim deployment (LENET_BACKENDS=["numpy"]) must run where TensorFlow is not installed."""
    code = (
        "import sys, fastapi.testclient as t; from service.app import create_app; "
        "from service.settings import Settings; "
        f"app = create_app(Settings(model_root={str(MODEL_ROOT)!r}, backends=['numpy'], "
        "poll_seconds=0));\n"
        "with t.TestClient(app) as c:\n"
        "    import time\n"
        "    while c.get('/readyz').status_code != 200: time.sleep(0.05)\n"
        "    assert c.get('/v1/model').json()['backends'] == ['numpy']\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
