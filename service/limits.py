"""Limits on a request: the size of its head, and of its body, refused before the body is
buffered in memory; how long the body may stall while it arrives."""

from __future__ import annotations

import asyncio
import zlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import (
    BadRequest,
    PayloadTooLarge,
    ServiceError,
    UnsupportedMediaType,
    response_to,
)

GZIP, DEFLATE = 16 + zlib.MAX_WBITS, zlib.MAX_WBITS
ENCODINGS = {b"gzip": GZIP, b"x-gzip": GZIP, b"deflate": DEFLATE}
"""The request Content-Encodings read (tritonclient's ``request_compression_algorithm``
sends gzip or deflate; RFC 9110 has x-gzip read as gzip), as zlib's ``wbits``: gzip's
wrapper, and zlib's, which is HTTP's deflate."""
ACCEPTED = {"Accept-Encoding": "gzip, deflate"}


class RequestTimeout(ServiceError):
    """The client stopped sending its request body, or sent it too slowly."""

    status_code = 408
    code = "request_timeout"


class HeaderTooLarge(ServiceError):
    """A request's line and headers over ``LENET_MAX_HEADER_BYTES``."""

    status_code = 431
    code = "header_too_large"


def header_too_large(most: int) -> HeaderTooLarge:
    return HeaderTooLarge(
        f"the request's line and headers hold more than {most} bytes",
        headers={"Connection": "close"},
    )


def head_size(scope: Scope) -> int:
    """About the bytes of a request's line and headers as sent: its path, query and headers,
    and each header's ": " and line end."""
    headers = scope["headers"]
    return (
        len(scope.get("raw_path") or scope["path"])
        + len(scope["query_string"])
        + sum(len(name) + len(value) for name, value in headers)
        + 4 * len(headers)
    )


class RequestSizeLimits:
    """Pure ASGI middleware: checks the head's size (its path, query and headers: a 431,
    with the app's CORS headers and counted, where ``connections`` can only close a head
    that never ends), and the body's: Content-Length up front, and the bytes streamed too
    (chunked bodies carry no length). A body sent compressed (``Content-Encoding: gzip`` or
    ``deflate``) reaches the app inflated, within the same limit, which then holds for what
    it inflates to as well: a few kilobytes of gzip can hold gigabytes of zeros. Here, since
    the limit is on the body as the app reads it, and this already reads the headers."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_head_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_head_bytes = max_head_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"0")
        codings: list[bytes] = []
        if b"content-encoding" in headers and (declared != b"0" or b"transfer-encoding" in headers):
            codings = _codings(scope["headers"])  # a request without a body has none to read
        refused: ServiceError | None = None
        if head_size(scope) > self.max_head_bytes:
            refused = header_too_large(self.max_head_bytes)
        elif declared.isdigit() and int(declared) > self.max_bytes:
            refused = PayloadTooLarge(self._message(int(declared)))
        elif codings and (len(codings) > 1 or codings[0] not in ENCODINGS):
            named = b", ".join(codings).decode("latin-1")
            refused = UnsupportedMediaType(
                f"Content-Encoding {named!r} is not read here; send gzip, deflate or none",
                headers=ACCEPTED,
            )
        if refused is not None:
            await response_to(refused, scope)(scope, receive, send)
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

        if not codings:
            await self.app(scope, limited, send)
            return
        # What the app reads is no longer what was sent: its coding and length go.
        scope["headers"] = [
            (name, value)
            for name, value in scope["headers"]
            if name not in (b"content-encoding", b"content-length")
        ]
        await self.app(scope, Inflating(limited, ENCODINGS[codings[0]], self.max_bytes), send)

    def _message(self, size: int) -> str:
        return f"request body of {size} bytes is over the limit of {self.max_bytes} bytes"


def _codings(headers: list[tuple[bytes, bytes]]) -> list[bytes]:
    """Every coding the Content-Encoding headers name, in order, but ``identity`` (none):
    more than one is a body coded twice, which is not read, rather than one read once."""
    return [
        coding
        for name, value in headers
        if name == b"content-encoding"
        for coding in (part.strip().lower() for part in value.split(b","))
        if coding and coding != b"identity"
    ]


class Inflating:
    """``receive`` with each part of the body inflated as it comes, refused (413) once the
    whole grows past ``max_bytes``, and (400) when it is not what its coding says or ends
    inside it. A gzip body may hold several members (RFC 1952), read one after another."""

    def __init__(self, receive: Receive, wbits: int, max_bytes: int) -> None:
        self._receive = receive
        self._wbits = wbits
        self._inflater = zlib.decompressobj(wbits)
        self._room = max_bytes
        self._max_bytes = max_bytes

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] != "http.request":
            return message
        body = self._inflate(message.get("body", b""))
        if not message.get("more_body", False) and not self._inflater.eof:
            raise BadRequest("the body ends inside the stream its Content-Encoding says it is")
        return {**message, "body": body}

    def _inflate(self, data: bytes) -> bytes:
        parts = []
        while data:
            if self._inflater.eof:  # more after a whole stream
                if self._wbits != GZIP:
                    raise BadRequest("the body goes on past the end of its deflate stream")
                self._inflater = zlib.decompressobj(self._wbits)
            try:  # no more than one byte past the room: enough to know it is over
                part = self._inflater.decompress(data, self._room + 1)
            except zlib.error as exc:
                raise BadRequest(f"the body is not what its Content-Encoding says: {exc}") from exc
            self._room -= len(part)
            if self._room < 0:
                raise PayloadTooLarge(
                    f"request body inflates past the limit of {self._max_bytes} bytes"
                )
            parts.append(part)
            # within the room all of ``data`` was read: all but what follows a stream's end
            data = self._inflater.unused_data if self._inflater.eof else b""
        return b"".join(parts)


class BodyDeadline:
    """Pure ASGI middleware: a request body must keep coming, or it gets 408 and its
    connection is closed, so that a client that sends part of a body and stops holds
    neither its socket nor what it sent for longer.

    Two deadlines, after Apache's ``mod_reqtimeout`` (``body=…,MinRate=…``): no wait for
    more of the body may last longer than ``timeout`` seconds, and the waits together no
    longer than ``timeout`` and a second for every ``min_rate`` bytes received. Without the
    second, a byte every few seconds held a connection for good, and a thousand such
    clients every connection the cap allows, the probes' too. Only the waits on the client
    count, not the app's own work between reads; once the body is complete, later receives
    (a disconnect) may wait as long as they like."""

    def __init__(self, app: ASGIApp, timeout: float, min_rate: int) -> None:
        self.app = app
        self.timeout = timeout
        self.min_rate = min_rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        complete = False
        waited = 0.0
        received = 0
        loop = asyncio.get_running_loop()

        async def timed() -> Message:
            nonlocal complete, waited, received
            if complete:
                return await receive()
            earned = self.timeout + received / self.min_rate - waited
            started = loop.time()
            try:
                async with asyncio.timeout(min(self.timeout, earned)):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(
                    self._late(received, waited + loop.time() - started, earned),
                    headers={"Connection": "close"},  # the rest of the body is not read
                ) from None
            waited += loop.time() - started
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        await self.app(scope, timed, send)

    def _late(self, received: int, waited: float, earned: float) -> str:
        if earned >= self.timeout:
            return f"no more of the request body arrived within {self.timeout:g} s"
        return (
            f"the request body arrives too slowly: {received} bytes in {waited:.1f} s of "
            f"waiting, where it may take {self.timeout:g} s and a second more for every "
            f"{self.min_rate} bytes"
        )
