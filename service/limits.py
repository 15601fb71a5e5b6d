"""Limits on a request's body: its size, refused before it is buffered in memory, and how
long it may stall while it arrives."""

from __future__ import annotations

import asyncio
import zlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import (
    BadRequest,
    PayloadTooLarge,
    ServiceError,
    UnsupportedMediaType,
    error_response,
)

ENCODINGS = {b"gzip": 16 + zlib.MAX_WBITS, b"deflate": zlib.MAX_WBITS}
"""The request Content-Encodings read (tritonclient's ``request_compression_algorithm``
sends both), as zlib's ``wbits``: gzip's wrapper, and zlib's, which is HTTP's deflate."""


class RequestTimeout(ServiceError):
    """The client stopped sending its request body."""

    status_code = 408
    code = "request_timeout"


class BodySizeLimit:
    """Pure ASGI middleware: checks Content-Length up front and counts streamed bytes too
    (chunked bodies carry no length). A body sent compressed (``Content-Encoding: gzip`` or
    ``deflate``) reaches the app inflated, within the same limit, which then holds for what
    it inflates to as well: a few kilobytes of gzip can hold gigabytes of zeros. Here, since
    the limit is on the body as the app reads it, and this already reads the headers."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"0")
        coding = headers.get(b"content-encoding", b"identity").strip().lower()
        refused: ServiceError | None = None
        if declared.isdigit() and int(declared) > self.max_bytes:
            refused = PayloadTooLarge(self._message(int(declared)))
        elif coding != b"identity" and coding not in ENCODINGS:
            refused = UnsupportedMediaType(
                f"Content-Encoding {coding.decode('latin-1')!r} is not read here; send gzip, "
                "deflate or none",
                headers={"Accept-Encoding": ", ".join(c.decode() for c in ENCODINGS)},
            )
        if refused is not None:
            response = error_response(
                refused.status_code, refused.code, refused.message, refused.headers, scope=scope
            )
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

        if coding == b"identity":
            await self.app(scope, limited, send)
            return
        # What the app reads is no longer what was sent: its coding and length go.
        scope["headers"] = [
            (name, value)
            for name, value in scope["headers"]
            if name not in (b"content-encoding", b"content-length")
        ]
        await self.app(scope, Inflating(limited, ENCODINGS[coding], self.max_bytes), send)

    def _message(self, size: int) -> str:
        return f"request body of {size} bytes is over the limit of {self.max_bytes} bytes"


class Inflating:
    """``receive`` with each part of the body inflated as it comes, refused (413) once the
    whole grows past ``max_bytes``, and (400) when it is not one whole stream."""

    def __init__(self, receive: Receive, wbits: int, max_bytes: int) -> None:
        self._receive = receive
        self._inflater = zlib.decompressobj(wbits)
        self._room = max_bytes
        self._max_bytes = max_bytes

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] != "http.request":
            return message
        try:
            body = self._inflater.decompress(message.get("body", b""), self._room + 1)
        except zlib.error as exc:
            raise BadRequest(f"the body is not what its Content-Encoding says: {exc}") from exc
        self._room -= len(body)
        if self._room < 0:
            raise PayloadTooLarge(
                f"request body inflates past the limit of {self._max_bytes} bytes"
            )
        more = message.get("more_body", False)
        if not more and (not self._inflater.eof or self._inflater.unused_data):
            raise BadRequest("the body is not one whole stream of its Content-Encoding")
        return {**message, "body": body}


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
