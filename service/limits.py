"""Limits on a request's body: its size, refused before it is buffered in memory, and how
long it may stall while it arrives."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import PayloadTooLarge, ServiceError, error_response


class RequestTimeout(ServiceError):
    """The client stopped sending its request body."""

    status_code = 408
    code = "request_timeout"


class BodySizeLimit:
    """Pure ASGI middleware: checks Content-Length up front and counts streamed bytes too
    (chunked bodies carry no length)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.max_bytes:
            error = PayloadTooLarge(self._message(int(declared)))
            response = error_response(error.status_code, error.code, error.message, scope=scope)
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLarge(self._message(received))
            return message

        await self.app(scope, limited, send)

    def _message(self, size: int) -> str:
        return f"request body of {size} bytes is over the limit of {self.max_bytes} bytes"


class BodyDeadline:
    """Pure ASGI middleware: a wait for more of the body longer than ``timeout`` seconds
    answers 408 and closes the connection, so that a client that sends part of a body and
    stops holds neither its socket nor what it sent for longer. Only the waits on the client
    count, not the app's own work between reads; once the body is complete, later receives
    (a disconnect) may wait as long as they like."""

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        complete = False

        async def timed() -> Message:
            nonlocal complete
            if complete:
                return await receive()
            try:
                async with asyncio.timeout(self.timeout):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(
                    f"no more of the request body arrived within {self.timeout:g} s",
                    headers={"Connection": "close"},  # the rest of the body is not read
                ) from None
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, timed, send)
