"""``python -m service`` as users start it, in a process of its own: the socket tests'."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.service.conftest import MODEL_ROOT

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def service_env(port: int, **settings: str) -> dict[str, str]:
    """This process's environment with the settings every socket test starts from (on
    127.0.0.1:``port``, the bundled model, no polling, no gRPC), then ``settings``'s
    ``LENET_*`` variables over them."""
    return {
        **os.environ,
        "LENET_HOST": "127.0.0.1",
        "LENET_PORT": str(port),
        "LENET_MODEL_ROOT": str(MODEL_ROOT),
        "LENET_POLL_SECONDS": "0",
        "LENET_GRPC_PORT": "0",
        **settings,
    }


def held_batches(delay_ms: int) -> dict[str, str]:
    """Settings under which each model call waits ``delay_ms`` for company, so a test can
    find requests held: room in a call for many, since each drawn digit is read over its
    views (nine rows), and a full call would run at once instead of waiting."""
    return {"LENET_BATCH_MAX_DELAY_MS": str(delay_ms), "LENET_MAX_IMAGES_PER_CALL": "1024"}


SERVICE = ("-m", "service")
"""The service as its README starts it; ``uvicorn_app`` as uvicorn's own command does."""


def uvicorn_app(port: str) -> tuple[str, ...]:
    return ("-m", "uvicorn", "service.app:app", "--host", "127.0.0.1", "--port", port)


def start(
    env: dict[str, str],
    stderr: IO[bytes] | int = subprocess.PIPE,
    args: tuple[str, ...] = SERVICE,
) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stderr=stderr)


@dataclass(frozen=True)
class Served:
    """A ``python -m service`` that answered ready: where, and its process."""

    url: str
    process: subprocess.Popen[bytes]

    def resident_bytes(self) -> int:
        """The process's resident memory (VmRSS)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(kib) * 1024

    def open_files(self) -> int:
        """The process's open file descriptors, its sockets among them."""
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def queued(self) -> float:
        """Images waiting for a model call, on every backend (``lenet_queued_images``)."""
        text = httpx.get(f"{self.url}/metrics").text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "lenet_queued_images"
            for sample in family.samples
        )


@contextmanager
def served(
    env: dict[str, str],
    timeout: float = 90,
    stderr: IO[bytes] | int = subprocess.PIPE,
    args: tuple[str, ...] = SERVICE,
) -> Iterator[Served]:
    """Start the service and wait until ``/readyz`` answers 200. Stopped at the end, pass or
    fail. A test that makes it log much passes a file as ``stderr``: a pipe nobody reads
    fills up and then blocks the server."""
    process = start(env, stderr, args)
    url = f"http://127.0.0.1:{env['LENET_PORT']}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                log = process.stderr.read().decode() if process.stderr else ""
                raise AssertionError(f"the server exited ({process.returncode}): {log}")
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server never became ready"
            time.sleep(0.2)
        yield Served(url, process)
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def serving(env: dict[str, str], timeout: float = 90) -> Iterator[str]:
    """``served``'s base URL, for tests that need no more of the process."""
    with served(env, timeout) as server:
        yield server.url
