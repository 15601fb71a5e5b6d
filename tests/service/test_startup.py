"""``python -m service``'s start-up, in a process of its own: settings it cannot serve stop it
with a line for each problem and status 2; ``LENET_LOG_LEVEL=trace`` serves; a gRPC port that
another service listens on stops it as a taken HTTP port does, its own workers sharing it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tritonclient.grpc as grpcclient
from uvicorn.config import STARTUP_FAILURE

from tests.service.processes import (
    ROOT,
    SERVICE,
    free_port,
    served,
    service_env,
    start,
    uvicorn_app,
)
from tests.service.workers import listening_sockets, workers


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"LENET_WORKERS": "0", "LENET_SHUTDOWN_DELAY_SECONDS": "inf"},
            [
                "lenet-serve: LENET_SHUTDOWN_DELAY_SECONDS=inf: Input should be a finite number",
                "lenet-serve: LENET_WORKERS=0: Input should be greater than 0",
            ],
        ),
        (
            {"LENET_BACKENDS": "onnx"},
            ['lenet-serve: LENET_BACKENDS=onnx: must be a JSON list, such as ["onnx"]'],
        ),
        (
            {"LENET_PORT": "8123", "LENET_GRPC_PORT": "8123"},
            ["lenet-serve: LENET_GRPC_PORT=8123 is LENET_PORT too: give each its own"],
        ),
    ],
)
def test_settings_it_cannot_serve_stop_it_with_a_line_each_and_status_2(
    settings: dict[str, str], expected: list[str]
) -> None:
    env = {**service_env(free_port()), **settings}
    done = subprocess.run(
        [sys.executable, "-m", "service"], cwd=ROOT, env=env, capture_output=True, timeout=60
    )
    assert (done.returncode, done.stderr.decode().splitlines()) == (2, expected)


def test_the_trace_log_level_serves_and_logs_at_trace(tmp_path: Path) -> None:
    env = service_env(free_port(), LENET_BACKENDS='["numpy"]', LENET_LOG_LEVEL="TRACE")
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr, served(env, stderr=stderr):
        pass
    assert "TRACE:" in log.read_text()  # uvicorn's lines for each connection


def grpc_ready(port: int) -> bool:
    return bool(grpcclient.InferenceServerClient(f"127.0.0.1:{port}").is_server_ready())


def second_service_on(grpc_port: int) -> tuple[int | None, str]:
    """Start a service on ``grpc_port`` and another HTTP port: its exit status (None if it
    still runs 30 s on, sharing the port) and what it wrote."""
    env = service_env(free_port(), LENET_BACKENDS='["numpy"]', LENET_GRPC_PORT=str(grpc_port))
    second = start(env)
    try:
        _, stderr = second.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        second.terminate()
        _, stderr = second.communicate(timeout=30)
        return None, stderr.decode()
    return second.returncode, stderr.decode()


def refused(grpc_port: int) -> str:
    return (
        f"cannot listen on ('127.0.0.1', {grpc_port}) for gRPC (LENET_GRPC_PORT): "
        "[Errno 98] Address already in use"
    )


def test_a_second_service_on_the_grpc_port_stops_and_the_first_serves_on() -> None:
    grpc_port = free_port()
    env = service_env(free_port(), LENET_BACKENDS='["numpy"]', LENET_GRPC_PORT=str(grpc_port))
    with served(env):
        status, log = second_service_on(grpc_port)
        assert grpc_ready(grpc_port)
        assert listening_sockets(grpc_port) == 1

    assert status == STARTUP_FAILURE, log
    assert refused(grpc_port) in log


def test_workers_share_the_grpc_port_and_a_second_service_on_it_stops(tmp_path: Path) -> None:
    grpc_port = free_port()
    with workers(tmp_path, LENET_GRPC_PORT=str(grpc_port)) as first:
        assert listening_sockets(grpc_port) == 2
        status, log = second_service_on(grpc_port)
        assert first.ready(2) and grpc_ready(grpc_port)
        assert listening_sockets(grpc_port) == 2

    assert status == STARTUP_FAILURE, log
    assert refused(grpc_port) in log


@pytest.mark.parametrize("uvicorn", [False, True], ids=["python -m service", "uvicorn"])
def test_start_up_logs_say_what_loaded_without_tensorflows_cpp_lines(
    tmp_path: Path, uvicorn: bool
) -> None:
    """oneDNN forced on, so that TensorFlow writes its notice on import on any x86 CPU.
    ``uvicorn service.app:app`` printed it; it logs none of the service's own lines (its
    logging config names only uvicorn's loggers), but the app has loaded once ready."""
    port = free_port()
    env = service_env(port, LENET_BACKENDS='["tensorflow"]', TF_ENABLE_ONEDNN_OPTS="1")
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user starts it: the service sets it
    args = uvicorn_app(str(port)) if uvicorn else SERVICE
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr, served(env, stderr=stderr, args=args):
        pass
    lines = log.read_text().splitlines()
    assert uvicorn or any("serving lenet version 1" in line for line in lines), lines
    assert not [line for line in lines if "oneDNN" in line or "absl" in line], lines
