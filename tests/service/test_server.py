"""One real uvicorn process over a socket, started the way users start it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.service.conftest import MODEL_ROOT
from tests.service.drawing import draw_digit, encode
from tests.service.processes import ROOT, free_port, service_env, serving


def test_python_m_service_serves_predictions_over_a_socket():
    env = service_env(free_port(), LENET_BACKENDS='["numpy"]')
    with serving(env) as url:
        files = {"file": ("seven.png", encode(draw_digit(7), "PNG"), "image/png")}
        response = httpx.post(f"{url}/v1/predict", files=files)
        assert response.status_code == 200
        assert response.json()["predictions"][0]["digit"] == 7
        assert response.json()["backend"] == "numpy"
        got, head = httpx.get(f"{url}/v1/model"), httpx.head(f"{url}/v1/model")
        assert head.status_code == 200 and head.content == b""  # uvicorn drops a HEAD's body
        assert head.headers["content-length"] == got.headers["content-length"] != "0"


def test_the_readmes_curl_examples_run_as_written(tmp_path: Path):
    """Its "Use it" block, each curl failing on an error status, in a folder of its own
    (the pictures it writes) that sees the repository's tests/data: it named example photos
    that were nowhere."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Use it\n\n```sh\n(.*?)```", text, re.DOTALL)
    assert block is not None
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    env = service_env(free_port(), LENET_BACKENDS='["onnx"]')
    with serving(env) as url:
        script = block[1].replace("localhost:8000", url).replace("curl ", "curl -sS --fail ")
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    assert '"number":"2026"' in done.stdout
    assert done.stdout.count('"digit":7') >= 3  # the seven, alone and first in the batch
    assert '"digit":2,' in done.stdout  # the batch's second photo
    for picture in ("conv1.png", "conv2.png", "why7.png"):
        assert (tmp_path / picture).read_bytes().startswith(b"\x89PNG")


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
