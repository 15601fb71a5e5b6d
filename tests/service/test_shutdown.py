"""Graceful shutdown of ``python -m service``: on SIGTERM it stops accepting, finishes the HTTP
requests and gRPC calls in flight and exits 0; what does not finish within
``LENET_SHUTDOWN_TIMEOUT_SECONDS`` is cut there with a 503 in the service's error shape, and
it still exits 0. With ``LENET_SHUTDOWN_DELAY_SECONDS`` it first serves on for that long,
answering not ready; SIGINT, or a second signal, cuts that pause short."""

from __future__ import annotations

import json
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from service.api.examples import EXAMPLE_ARRAY, EXAMPLE_DIGIT
from tests.service.drawing import draw_digit, encode
from tests.service.processes import Served, free_port, held_batches, served, service_env

HTTP_IN_FLIGHT = 16
GRPC_IN_FLIGHT = 4
HELD_S = 4.0
"""How long a lone batch waits for company (LENET_BATCH_MAX_DELAY_MS): the requests sent
before the signal are then still in flight when it comes, even on a loaded machine."""
SEVEN = encode(draw_digit(7), "PNG")
HEAD = (
    b"POST /v1/predict HTTP/1.1\r\nHost: test\r\nContent-Type: image/png\r\n"
    b"X-Request-ID: upload-1\r\nOrigin: https://digits.example\r\n"
    b"Content-Length: %d\r\n\r\n" % len(SEVEN)
)


def shutdown_env(grpc_port: int, timeout_s: int) -> dict[str, str]:
    return service_env(
        free_port(),
        LENET_BACKENDS='["onnx"]',
        LENET_GRPC_PORT=str(grpc_port),
        **held_batches(int(HELD_S * 1000)),
        LENET_SHUTDOWN_TIMEOUT_SECONDS=str(timeout_s),
    )


def predict_http(url: str) -> tuple[int, int]:
    """One request on a connection of its own: its status and digit."""
    files = {"file": ("7.png", SEVEN, "image/png")}
    response = httpx.post(f"{url}/v1/predict", files=files, timeout=30)
    return response.status_code, response.json()["predictions"][0]["digit"]


def predict_grpc(address: str, timeout_s: float = 30) -> list[int]:
    """One gRPC call with Triton's client: the digits."""
    image = grpcclient.InferInput("image", [1, 28, 28, 1], "FP32")
    image.set_data_from_numpy(np.asarray(EXAMPLE_ARRAY, np.float32).reshape(1, 28, 28, 1))
    result = grpcclient.InferenceServerClient(address).infer(
        "lenet",
        [image],
        outputs=[grpcclient.InferRequestedOutput("digit")],
        client_timeout=timeout_s,
    )
    return list(result.as_numpy("digit"))


def upload_half(port: int) -> socket.socket:
    """A request whose head and first half of the body are sent: the rest is still to come."""
    upload = socket.create_connection(("127.0.0.1", port))
    upload.sendall(HEAD + SEVEN[: len(SEVEN) // 2])
    return upload


def answer(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    connection.settimeout(30)
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    connection.close()
    return received


def exit_of(server: Served, signalled: float) -> tuple[int, float, str]:
    """The process's exit code, seconds from the signal to its exit, and its log."""
    exit_code = server.process.wait(timeout=30)
    exited_after = time.monotonic() - signalled
    assert server.process.stderr is not None
    return exit_code, exited_after, server.process.stderr.read().decode()


def refused_by(url: str, signalled: float) -> float:
    """Seconds from the signal until a new connection is refused: uvicorn looks for the
    signal every 0.1 s, then closes its listener."""
    while True:
        try:
            httpx.get(f"{url}/healthz", timeout=5)
        except httpx.ConnectError:
            return time.monotonic() - signalled
        assert time.monotonic() - signalled < 5, "still accepting connections 5 s after SIGTERM"
        time.sleep(0.02)


def status_line(response: bytes) -> str:
    return response.split(b"\r\n", 1)[0].decode()


def test_sigterm_finishes_the_requests_in_flight_and_exits_0() -> None:
    grpc_port = free_port()
    env = shutdown_env(grpc_port, timeout_s=10)
    grpc_address = f"127.0.0.1:{grpc_port}"
    with (
        served(env) as server,
        ThreadPoolExecutor(HTTP_IN_FLIGHT + GRPC_IN_FLIGHT) as pool,
    ):
        upload = upload_half(int(env["LENET_PORT"]))  # first: accepted before the rest are
        deadline = time.monotonic() + HELD_S
        http = [pool.submit(predict_http, server.url) for _ in range(HTTP_IN_FLIGHT)]
        calls = [pool.submit(predict_grpc, grpc_address) for _ in range(GRPC_IN_FLIGHT)]
        # Every image queued, not merely sent; the batch waits HELD_S for more.
        while (queued := server.queued()) < HTTP_IN_FLIGHT + GRPC_IN_FLIGHT:
            assert time.monotonic() < deadline, f"{queued} images queued in {HELD_S} s"
            time.sleep(0.02)
        assert not any(f.done() for f in [*http, *calls]), "answered before the signal"

        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        refused_after = refused_by(server.url, signalled)
        with pytest.raises(InferenceServerException):  # the gRPC server stopped with it
            predict_grpc(grpc_address, timeout_s=5)
        upload.sendall(SEVEN[len(SEVEN) // 2 :])
        uploaded = answer(upload)

        exit_code = server.process.wait(timeout=30)
        exited_after = time.monotonic() - signalled
        answers = [f.result() for f in http]
        digits = [f.result() for f in calls]

    print(
        f"\nin flight at SIGTERM: {len(answers)} HTTP requests ({answers.count((200, 7))} "
        f"answered 200, digit 7), {len(digits)} gRPC calls "
        f"({digits.count([EXAMPLE_DIGIT])} answered right), one upload half sent "
        f"({status_line(uploaded)}); new connections refused {refused_after:.2f} s after the "
        f"signal, exit code {exit_code} {exited_after:.2f} s after it"
    )
    assert answers == [(200, 7)] * HTTP_IN_FLIGHT
    assert digits == [[EXAMPLE_DIGIT]] * GRPC_IN_FLIGHT
    assert uploaded.startswith(b"HTTP/1.1 200 ") and b'"digit":7' in uploaded
    assert exit_code == 0
    assert exited_after < 10


def test_what_does_not_finish_in_time_is_cut_with_503_and_the_process_still_exits_0() -> None:
    timeout_s = 2
    env = {
        **shutdown_env(free_port(), timeout_s),
        "LENET_CORS_ORIGINS": '["https://digits.example"]',
    }
    with served(env) as server:
        stalled = upload_half(int(env["LENET_PORT"]))  # and never the rest
        # Answered on a later connection: the upload's, accepted before it, has been read.
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        exit_code, exited_after, log = exit_of(server, signalled)
        cut = answer(stalled)

    print(
        f"\na stalled upload at SIGTERM, {timeout_s} s to finish: exit code {exit_code} "
        f"{exited_after:.2f} s after the signal; the upload got "
        f"{status_line(cut) or 'nothing'}"
    )
    assert exit_code == 0
    assert timeout_s <= exited_after < timeout_s + 5
    head, body = cut.split(b"\r\n\r\n", 1)
    assert status_line(cut) == "HTTP/1.1 503 Service Unavailable"
    assert b"\r\nretry-after: 1\r\n" in head.lower()
    assert b"x-request-id: upload-1" in head.lower().split(b"\r\n")  # answered outside the app
    assert b"access-control-allow-origin: https://digits.example" in head.lower().split(b"\r\n")
    assert json.loads(body)["error"]["code"] == "shutting_down"
    assert "cut short by the shutdown limit" in log
    # Counted and logged as the 503 it was answered, not as the 500 of a crash.
    cut_line = next(line for line in log.splitlines() if '"path":"/v1/predict"' in line)
    assert json.loads(cut_line)["status"] == 503
    assert "Traceback" not in log and "Exception in ASGI application" not in log


def test_a_shutdown_delay_serves_on_while_answering_not_ready_then_drains() -> None:
    delay_s = 3.0
    grpc_port = free_port()
    env = service_env(
        free_port(),
        LENET_BACKENDS='["onnx"]',
        LENET_GRPC_PORT=str(grpc_port),
        LENET_SHUTDOWN_DELAY_SECONDS=str(delay_s),
    )
    grpc_address = f"127.0.0.1:{grpc_port}"
    with served(env) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        assert grpcclient.InferenceServerClient(grpc_address).is_server_ready()
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        readyz = http.get("/readyz")
        v2_ready = http.get("/v2/health/ready")
        grpc_ready = grpcclient.InferenceServerClient(grpc_address).is_server_ready()
        alive = http.get("/healthz").status_code
        # A request on a new connection, and a gRPC call, are still served.
        answered = predict_http(server.url)
        digits = predict_grpc(grpc_address)
        during_pause = time.monotonic() - signalled
        exit_code, exited_after, log = exit_of(server, signalled)

    print(
        f"\n{delay_s} s delay: /readyz {readyz.status_code} {readyz.json()}, /v2/health/ready"
        f" {v2_ready.status_code}, gRPC ServerReady {grpc_ready}, /healthz {alive}; predict"
        f" {answered}, gRPC {digits} within {during_pause:.2f} s; exit code {exit_code}"
        f" {exited_after:.2f} s after the signal"
    )
    assert during_pause < delay_s, "the checks ran past the pause: nothing was measured"
    assert readyz.status_code == 503
    assert readyz.json()["error"]["code"] == "shutting_down"
    assert readyz.headers["retry-after"] == "1"
    assert v2_ready.status_code == 503 and "shutting down" in v2_ready.json()["error"]
    assert grpc_ready is False
    assert alive == 200
    assert answered == (200, 7)
    assert digits == [EXAMPLE_DIGIT]
    assert exit_code == 0
    assert delay_s <= exited_after < delay_s + 10
    assert "serving on for 3 s before draining" in log


def test_a_second_signal_cuts_the_delay_short() -> None:
    delay_s = 60
    env = service_env(
        free_port(), LENET_BACKENDS='["onnx"]', LENET_SHUTDOWN_DELAY_SECONDS=str(delay_s)
    )
    with served(env) as server:
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert httpx.get(f"{server.url}/readyz", timeout=30).status_code == 503
        server.process.send_signal(signal.SIGTERM)
        exit_code = server.process.wait(timeout=30)
        exited_after = time.monotonic() - signalled

    print(f"\nSIGTERM twice: exit code {exit_code} {exited_after:.2f} s after the first")
    assert exit_code == 0
    assert exited_after < 10
