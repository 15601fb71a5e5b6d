"""The body deadline: a body that stalls, or trickles, gets 408 and closes; one that keeps
coming does not."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import register_error_handlers
from service.limits import BodyDeadline

pytestmark = pytest.mark.anyio

TIMEOUT = 0.5
MIN_RATE = 1000
SLOW_BODY_TIMEOUT = 2.0
"""Where a test's pauses must each stay within the deadline: room for a stalled machine."""


def echo_app(timeout: float = TIMEOUT, min_rate: int = MIN_RATE) -> FastAPI:
    """Answers how many body bytes it read, through the service's error table."""
    app = FastAPI()
    register_error_handlers(app)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    app.add_middleware(BodyDeadline, timeout=timeout, min_rate=min_rate)
    return app


def client_sending(*chunks: tuple[float, bytes], ends: bool) -> Receive:
    """A client that sends each chunk after its pause; with ``ends``, the last one ends the
    body, else it then sends nothing more (no end of body, no disconnect)."""
    pending = list(chunks)

    async def receive() -> Message:
        if not pending:
            await asyncio.Event().wait()
        pause, data = pending.pop(0)
        await asyncio.sleep(pause)
        return {"type": "http.request", "body": data, "more_body": bool(pending) or not ends}

    return receive


async def call(app: ASGIApp, receive: Receive) -> tuple[int, dict[str, str], Any]:
    """POST /echo; the status, headers and JSON body the app sent."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/echo",
        "raw_path": b"/echo",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/octet-stream")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), timeout=10)
    start, body = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, json.loads(body)


async def test_a_body_that_stalls_gets_408_and_closes_its_connection() -> None:
    status, headers, body = await call(echo_app(), client_sending((0, b"half a bo"), ends=False))
    assert status == 408
    assert headers["connection"] == "close"
    assert body["error"]["code"] == "request_timeout"
    assert f"{TIMEOUT:g} s" in body["error"]["message"]


async def test_a_slow_body_that_keeps_coming_is_read_whole() -> None:
    """Six pauses of a fifth of the timeout add up to more than it, but each chunk earns
    its sender a second more than the pause before it took."""
    chunks = [(SLOW_BODY_TIMEOUT / 5, b"x" * MIN_RATE) for _ in range(6)]
    app = echo_app(SLOW_BODY_TIMEOUT)
    status, _, body = await call(app, client_sending(*chunks, ends=True))
    assert (status, body) == (200, {"bytes": 6 * MIN_RATE})


async def test_a_body_that_trickles_below_the_least_rate_gets_408() -> None:
    """A byte every fifth of the timeout: no wait is too long, but together they are."""
    chunks = [(TIMEOUT / 5, b"x") for _ in range(50)]
    status, headers, body = await call(echo_app(), client_sending(*chunks, ends=True))
    assert status == 408
    assert headers["connection"] == "close"
    message = body["error"]["message"]
    assert "too slowly" in message and f"every {MIN_RATE} bytes" in message


async def test_a_wait_after_the_whole_body_is_not_timed() -> None:
    """An app may listen for the client's disconnect once it has the body."""
    body_then_disconnect = [
        {"type": "http.request", "body": b"abc", "more_body": False},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        if len(body_then_disconnect) == 1:
            await asyncio.sleep(TIMEOUT * 2)
        return body_then_disconnect.pop(0)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    status, _, _ = await call(BodyDeadline(app, timeout=TIMEOUT, min_rate=MIN_RATE), receive)
    assert status == 200
