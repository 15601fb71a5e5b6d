"""``python -m service`` with two workers (``service.workers``): each listens on a socket of its
own on the port, connections reach both, SIGTERM drains both and exits 0, a worker that is
killed is replaced by one that listens and answers in its turn, and a second service started
on the same port stops instead of joining the first."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from uvicorn.config import STARTUP_FAILURE

from tests.service.drawing import draw_digit, encode
from tests.service.processes import held_batches, service_env, start
from tests.service.workers import workers

CONNECTIONS = 16
"""Kept-alive connections opened together, as wrk opens them: the kernel hashes each to a
worker, so all 16 land on one with a chance of 2 in 65,536."""
REQUESTS_EACH = 5
SEVEN = encode(draw_digit(7), "PNG")
HELD_MS = 5000
"""How long a lone batch waits for company: requests sent before SIGTERM are still in flight."""


def predict(client: httpx.Client) -> int | str:
    """The answer's status, or what went wrong with the connection."""
    files = {"file": ("7.png", SEVEN, "image/png")}
    try:
        return client.post("/v1/predict", files=files, timeout=60).status_code
    except httpx.TransportError as exc:
        return f"{type(exc).__name__}: {exc}"


def load(url: str) -> list[int | str]:
    """``REQUESTS_EACH`` requests on each of ``CONNECTIONS`` connections, all kept open until
    the last is answered, the first request on each sent at once."""
    clients = [httpx.Client(base_url=url) for _ in range(CONNECTIONS)]
    try:
        with ThreadPoolExecutor(CONNECTIONS) as pool:
            return [
                status
                for statuses in pool.map(
                    lambda client: [predict(client) for _ in range(REQUESTS_EACH)], clients
                )
                for status in statuses
            ]
    finally:
        for client in clients:
            client.close()


def test_each_worker_listens_on_a_socket_of_its_own_and_connections_reach_both(tmp_path):
    with workers(tmp_path) as server:
        assert server.listeners() == 2
        statuses = load(server.url)
        assert statuses == [200] * (CONNECTIONS * REQUESTS_EACH), server.events()
        counts = server.answered(len(statuses))
        assert set(counts) == server.pids(), f"not every worker answered: {counts}"
        assert sum(counts.values()) == len(statuses)
        # Whole connections land on a worker: each worker's count is a multiple of theirs.
        assert all(count % REQUESTS_EACH == 0 for count in counts.values()), counts


def test_sigterm_drains_the_requests_in_flight_on_every_worker_and_exits_0(tmp_path):
    settings = {
        **held_batches(HELD_MS),
        "LENET_SHUTDOWN_TIMEOUT_SECONDS": "10",
    }
    with workers(tmp_path, **settings) as server, ThreadPoolExecutor(CONNECTIONS) as pool:
        clients = [httpx.Client(base_url=server.url) for _ in range(CONNECTIONS)]
        in_flight = [pool.submit(predict, client) for client in clients]
        deadline = time.monotonic() + HELD_MS / 1000
        # Every request queued, none still waiting to be accepted (that one would be reset
        # when its worker closes its socket), and each worker holds some.
        while sum((held := server.queued()).values()) < CONNECTIONS or not all(held.values()):
            assert time.monotonic() < deadline, f"not every worker holds requests: {held}"
            time.sleep(0.02)
        assert set(held) == server.pids()
        assert not any(f.done() for f in in_flight), "answered before the signal"

        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        exit_code = server.process.wait(timeout=30)
        exited_after = time.monotonic() - signalled
        statuses = [f.result() for f in in_flight]
        for client in clients:
            client.close()

    print(
        f"\nimages held at SIGTERM, by worker: {held}; exit {exit_code} after {exited_after:.2f} s"
    )
    assert statuses == [200] * CONNECTIONS
    assert exit_code == 0
    assert exited_after < 10
    assert server.listeners() == 0


def test_a_killed_worker_is_replaced_by_one_that_listens_and_answers(tmp_path):
    with workers(tmp_path) as server:
        before = server.pids()
        killed = min(before)
        os.kill(killed, signal.SIGKILL)
        while killed in server.pids():  # until it is gone (a zombie has no command line)
            time.sleep(0.01)
        server.wait_for(2)
        after = server.pids()
        [replacement] = after - before
        statuses = load(server.url)
        counts = server.answered(len(statuses))

    assert statuses == [200] * (CONNECTIONS * REQUESTS_EACH), server.events()
    assert counts.get(replacement), f"the replacement answered nothing: {counts}"
    log = server.log.read_text()
    assert f"Child process [{killed}] died" in log


def test_a_second_service_on_the_same_port_stops_with_uvicorns_status(tmp_path):
    with workers(tmp_path) as first:
        # SO_REUSEPORT would let it listen beside the first, and take some of its connections
        second = start(service_env(first.port, LENET_BACKENDS='["numpy"]', LENET_WORKERS="2"))
        try:
            _, stderr = second.communicate(timeout=60)
        finally:
            second.kill()  # if it joined the first after all
        assert first.ready(2)

    assert second.returncode == STARTUP_FAILURE
    assert f"cannot listen on ('127.0.0.1', {first.port}): [Errno 98] Address already in use" in (
        stderr.decode()
    )
