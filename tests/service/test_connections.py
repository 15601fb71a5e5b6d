"""Slow and idle clients against ``python -m service``: thousands of stalled connections are
closed on time while real clients are served meanwhile; beyond the cap, 503 with Retry-After."""

from __future__ import annotations

import asyncio
import contextlib
import json
import pickle
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass
from statistics import median
from types import SimpleNamespace

import httpx
import pytest

from service.connections import HeaderDeadline, answer_if_cut_short, http_protocol
from service.observability.middleware import CUT_SHORT_CYCLE
from tests.service.drawing import draw_digit, encode
from tests.service.processes import free_port, held_batches, served, service_env

pytestmark = pytest.mark.anyio

HELD = 3000
"""Stalled connections held at once (fewer where the open-files limit is lower)."""
TIMEOUT_S = 4.0
"""The header and body deadlines in these tests (10 s and 30 s by default) ..."""
STALLED_TIMEOUT_S = 8.0
"""... and while thousands of connections stall: they must all still be held once real
clients have been served meanwhile, which can take seconds on a loaded machine."""
SEVEN = encode(draw_digit(7), "PNG")
HEAD = b"POST /v1/predict HTTP/1.1\r\nHost: test\r\nContent-Type: image/png\r\n"
STALLS = {
    "idle": b"",
    "part of a head": HEAD,
    "part of a body": HEAD + b"Content-Length: 10000\r\n\r\n" + SEVEN[:100],
}
"""What a stalled client sends before it stops, by name."""


@pytest.fixture
def open_files_limit() -> Iterator[int]:
    """This process's soft limit on open files raised to its hard limit (the server started
    from here inherits it), for the length of a test; the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    raised = 65536 if hard == resource.RLIM_INFINITY else hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
    try:
        yield raised
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@dataclass
class Stalled:
    kind: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    opened: float


async def stall(port: int, kind: str) -> Stalled:
    """Open a connection, send what ``kind`` sends, then nothing. Its time of opening is
    taken before the connect, which the server may accept (and start its deadline at) before
    this client runs again."""
    opened = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(STALLS[kind])
    await writer.drain()
    return Stalled(kind, reader, writer, opened)


async def closed_by_server(connection: Stalled) -> tuple[float, bytes]:
    """Seconds from opening until the server closed it, and what it answered first."""
    try:
        answer = await connection.reader.read()
    except ConnectionResetError:
        answer = b""
    closed = time.monotonic() - connection.opened
    connection.writer.close()
    return closed, answer


async def predict(client: httpx.AsyncClient) -> float:
    """One real request, answered right; its latency in seconds."""
    started = time.perf_counter()
    response = await client.post("/v1/predict", files={"file": ("7.png", SEVEN, "image/png")})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["digit"] == 7
    return time.perf_counter() - started


async def real_clients(url: str) -> list[float]:
    """40 requests from one client, then 5 each from 4 more at once: their latencies."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        latencies = [await predict(client) for _ in range(40)]
    clients = [httpx.AsyncClient(base_url=url, timeout=10) for _ in range(4)]
    latencies += await asyncio.gather(*(predict(c) for c in clients for _ in range(5)))
    for client in clients:
        await client.aclose()
    return latencies


def slow_client_env(port: int, max_connections: int, timeout_s: float) -> dict[str, str]:
    return service_env(
        port,
        LENET_BACKENDS='["onnx"]',
        LENET_ACCESS_LOG="false",
        LENET_HEADER_TIMEOUT_SECONDS=str(timeout_s),
        LENET_BODY_TIMEOUT_SECONDS=str(timeout_s),
        LENET_MAX_CONNECTIONS=str(max_connections),
        LENET_CORS_ORIGINS=f'["{ORIGIN}"]',
    )


ORIGIN = "https://digits.example"
"""An origin whose pages may call the servers these tests start."""


async def test_stalled_connections_are_closed_while_real_clients_are_served(
    open_files_limit: int,
) -> None:
    held = min(HELD, open_files_limit - 512)
    port = free_port()
    kinds = list(STALLS)
    env = slow_client_env(port, max_connections=held + 100, timeout_s=STALLED_TIMEOUT_S)
    with served(env) as server:
        unloaded = await real_clients(server.url)
        files_before, resident_before = server.open_files(), server.resident_bytes()
        connections: list[Stalled] = []
        for first in range(0, held, 500):  # in rounds: a burst of thousands overflows the backlog
            batch = range(first, min(first + 500, held))
            connections += await asyncio.gather(*(stall(port, kinds[i % 3]) for i in batch))
        closing = [asyncio.create_task(closed_by_server(c)) for c in connections]

        latencies = await real_clients(server.url)
        still_held = sum(not task.done() for task in closing)
        opened_for = time.monotonic() - connections[0].opened
        files_held = server.open_files()  # now: the server accepts a moment after the connect
        resident_held = server.resident_bytes()

        results = await asyncio.wait_for(asyncio.gather(*closing), timeout=STALLED_TIMEOUT_S + 20)
        files_after = server.open_files()
        print(
            f"\n{held} stalled connections, {still_held} still held while {len(latencies)} "
            f"real requests were served in {summary(latencies)} (without them: "
            f"{summary(unloaded)}); server open files {files_before} before, {files_held} "
            f"held, {files_after} after; RSS {resident_before / 2**20:.0f} MiB before, "
            f"{resident_held / 2**20:.0f} MiB held"
        )

        assert still_held == held, f"only {still_held} of {held} were held {opened_for:.1f} s"
        assert opened_for < STALLED_TIMEOUT_S
        by_kind: dict[str, list[tuple[float, bytes]]] = {kind: [] for kind in kinds}
        for connection, result in zip(connections, results, strict=True):
            by_kind[connection.kind].append(result)
        for kind, closed in by_kind.items():
            earliest, latest = min(s for s, _ in closed), max(s for s, _ in closed)
            print(f"{kind}: {len(closed)} closed after {earliest:.2f}-{latest:.2f} s")
            assert STALLED_TIMEOUT_S - 0.5 < earliest and latest < STALLED_TIMEOUT_S + 5, kind
        assert all(answer == b"" for _, answer in by_kind["idle"] + by_kind["part of a head"])
        assert all(
            answer.startswith(b"HTTP/1.1 408 ") and b'"code":"request_timeout"' in answer
            for _, answer in by_kind["part of a body"]
        )
        assert files_held >= held
        assert files_after <= files_before + 5
        assert httpx.get(f"{server.url}/readyz").status_code == 200


def summary(latencies: list[float]) -> str:
    ms = sorted(1000 * s for s in latencies)
    return f"{median(ms):.1f} ms median, {ms[int(0.9 * len(ms))]:.1f} ms p90, {ms[-1]:.1f} ms max"


async def test_requests_beyond_the_connection_cap_get_503_in_the_services_shape() -> None:
    cap = 20
    port = free_port()
    with served(slow_client_env(port, max_connections=cap, timeout_s=TIMEOUT_S)) as server:
        idle = [await stall(port, "idle") for _ in range(cap)]
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            # From a page on another origin too: without CORS headers its browser would
            # report a network error, not the 503 and its Retry-After.
            refused = await client.get("/readyz", headers={"Origin": ORIGIN})
            v2_refused = await client.get("/v2/health/ready")
            preflight = await client.options(
                "/v1/predict",
                headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
            )
            alive = [await client.get(path) for path in ("/healthz", "/v2/health/live")]
        assert [response.status_code for response in alive] == [200, 200]  # busy, not dead
        assert [response.headers["connection"] for response in alive] == ["close", "close"]
        for response in refused, v2_refused:
            assert response.status_code == 503
            assert response.headers["connection"] == "close"
            assert response.headers["retry-after"] == "1"
        assert refused.json()["error"]["code"] == "overloaded"
        assert refused.headers["access-control-allow-origin"] == ORIGIN
        # A preflight is answered (its page may then read the 503), and counted and closed
        # as any request beyond the cap.
        assert preflight.status_code == 200 and preflight.headers["connection"] == "close"
        assert "retry-after" in refused.headers["access-control-expose-headers"].lower()
        assert "too many connections" in v2_refused.json()["error"]
        for connection in idle:
            await closed_by_server(connection)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            assert (await predict(client)) < TIMEOUT_S
            metrics = (await client.get("/metrics")).text
        assert "\nlenet_connection_cap_refusals_total 3.0\n" in metrics


def test_the_protocol_pickles_into_spawned_workers_with_its_deadline() -> None:
    """uvicorn pickles its config, the ``http`` option with it, into each worker process."""
    factory = pickle.loads(pickle.dumps(http_protocol(2.5, 4096, [ORIGIN])))
    assert factory.func is HeaderDeadline
    expected = {"header_timeout": 2.5, "max_header_bytes": 4096, "cors_origins": (ORIGIN,)}
    assert factory.keywords == expected


async def test_the_scope_lets_go_of_the_cycle_when_the_request_is_done() -> None:
    """The cycle holds the scope; a scope left holding the cycle would keep both, and the
    request's body, until the cyclic garbage collector ran (under overload, hundreds of MiB)."""
    seen = []

    async def app(scope, receive, send) -> None:
        seen.append(scope.get(CUT_SHORT_CYCLE))

    cycle = SimpleNamespace(response_started=False)
    scope: dict[str, object] = {"type": "http", "method": "GET", "path": "/"}
    await answer_if_cut_short(app, cycle, (), scope, None, None)  # type: ignore[arg-type]
    assert seen == [cycle]
    assert CUT_SHORT_CYCLE not in scope


KEY = "connections-test-0123456789"
CHUNKED_HEAD = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"


async def answer(reader: asyncio.StreamReader) -> bytes:
    """One answer's head and body (it has a Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return head + await reader.readexactly(length)


async def test_the_rest_of_a_body_answered_unread_must_come_within_the_header_timeout(
    tmp_path,
) -> None:
    """A client without a key is answered 401 before its body is read; uvicorn then reads
    the rest and throws it away, each byte restarting its keep-alive wait. Trickled a byte
    at a time, the rest held the connection past every timeout, and enough of them filled
    LENET_MAX_CONNECTIONS against clients with a key. A client that sends its whole body
    keeps its connection for the next request."""
    keys = tmp_path / "keys"
    keys.write_text(f"{KEY}\n")
    port = free_port()
    env = {**slow_client_env(port, 100, timeout_s=2.0), "LENET_API_KEYS_FILE": str(keys)}
    with served(env):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(CHUNKED_HEAD + b"1\r\nx\r\n")
        assert (await answer(reader)).startswith(b"HTTP/1.1 401")
        answered = time.monotonic()
        while not reader.at_eof() and time.monotonic() - answered < 10:
            writer.write(b"1\r\nx\r\n")
            await asyncio.sleep(0.25)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(reader.read(1), 0.05)
        assert reader.at_eof() and time.monotonic() - answered < 2.0 + 1.5
        writer.close()

        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        whole = HEAD + f"Content-Length: {len(SEVEN)}\r\n\r\n".encode() + SEVEN
        writer.write(whole)
        assert (await answer(reader)).startswith(b"HTTP/1.1 401")
        await asyncio.sleep(2.5)  # past the deadline: the body came whole, none is armed
        writer.write(
            whole.replace(b"\r\n\r\n", f"\r\nAuthorization: Bearer {KEY}\r\n\r\n".encode(), 1)
        )
        assert (await answer(reader)).startswith(b"HTTP/1.1 200")
        writer.close()


async def test_a_head_that_will_not_end_is_431_while_it_is_still_coming(tmp_path) -> None:
    """httptools holds a header whole before uvicorn sees it: a 60 MB one was taken, and
    held, for as long as the header deadline let it come. Now a head that passes the limit
    unfinished is answered 431 at once, in the service's shape (the protocol's under /v2),
    and what still comes is read and dropped, so that the answer is not reset away; a head
    of blank lines alone, which has no request line, is refused so too, without a
    traceback. A complete head over the limit is the app's 431, on a connection that
    served a request before it."""
    port = free_port()
    env = service_env(port, LENET_BACKENDS='["onnx"]', LENET_MAX_HEADER_BYTES="16384")
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr, served(env, stderr=stderr) as server:
        for start, more, shape in (
            (b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: ", b"a", dict),
            (b"GET /v2/health/live HTTP/1.1\r\nHost: test\r\nX-Big: ", b"a", str),
            (b"", b"\r\n", dict),
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            # Past the limit, and on: all of it sent before the answer is read.
            writer.write(start + more * (1 << 20))
            await writer.drain()
            refused = await asyncio.wait_for(answer(reader), 5)
            writer.close()
            assert refused.startswith(b"HTTP/1.1 431 "), refused[:200]
            assert isinstance(json.loads(refused.partition(b"\r\n\r\n")[2])["error"], shape)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        assert (await answer(reader)).startswith(b"HTTP/1.1 200 ")
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n")
        complete = await asyncio.wait_for(answer(reader), 5)
        writer.close()
        assert complete.startswith(b"HTTP/1.1 431 ") and b"connection: close" in complete.lower()
        fits = httpx.get(f"{server.url}/healthz", headers={"X-Big": "a" * 8000})
        assert fits.status_code == 200
    assert "Traceback" not in log.read_text(), log.read_text()


async def test_a_head_that_will_not_end_behind_an_answer_to_come_closes_after_it() -> None:
    """Pipelined behind a request still being answered, a 431 written at once would be
    taken for that request's answer: the request is answered, then the connection closed."""
    port = free_port()
    env = service_env(
        port, LENET_BACKENDS='["onnx"]', LENET_MAX_HEADER_BYTES="16384", **held_batches(1000)
    )
    with served(env):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = SEVEN
        writer.write(
            b"POST /v1/predict HTTP/1.1\r\nHost: test\r\nContent-Type: image/png\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body
        )
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * (1 << 20))
        await asyncio.wait_for(writer.drain(), 10)
        first = await asyncio.wait_for(answer(reader), 10)
        rest = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    assert first.startswith(b"HTTP/1.1 200 ") and b'"digit":7' in first, first[:300]
    assert rest == b""
