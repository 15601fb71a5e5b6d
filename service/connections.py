"""uvicorn's HTTP protocol with a deadline on each request's line and headers.

uvicorn times out only the idle wait between two requests (``timeout_keep_alive``, armed
once a response is sent): a connection that opens and says nothing, or sends part of its
headers and stops, is held forever, and a few thousand of them exhaust the process's file
descriptors (slowloris). Here a request's head must be complete ``header_timeout`` seconds
after the connection opens, or after the first byte of its next request; if not, the
connection is closed without an answer, as nginx's ``client_header_timeout`` does (a 408
could be taken by a browser for the answer to a request it sends later on a preconnected
socket). Nor may a head go on past ``max_header_bytes`` (and the rest of one read): httptools
buffers a header whole before uvicorn sees it, so only the deadline bounded it, and a client
sending fast could have it hold tens of megabytes a connection till then. Such a head is
answered 431 and the connection closed; a head that is complete, however long, is the app's
to refuse (``limits.RequestSizeLimits``), counted and logged as any request. A body that
stalls is the app's to time out (``service.limits.BodyDeadline``),
where it becomes a 408 in the service's error shape; the rest of a body the app answered
without reading (a 401, an early 413 or 503) must arrive within ``header_timeout`` too.

Two of uvicorn's own answers are given in the service's error shape here, each a 503 with
``Retry-After`` that closes the connection: beyond the connection cap (``limit_concurrency``)
uvicorn runs an app of its own that answers in plain text; and a request still running at
the shutdown limit (``timeout_graceful_shutdown``) has its task cancelled, which uvicorn
answers with a plain-text 500 and logs as a crash, traceback and all. Both carry the CORS
headers of the app's own answers (``LENET_CORS_ORIGINS``). Beyond the cap the liveness
probes (``paths.LIVENESS``) are still answered, by the app.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.server import ServerState

from service.access import with_cors
from service.errors import Overloaded, ShuttingDown, response_to
from service.limits import header_too_large
from service.observability.access_log import echo_request_id
from service.observability.metrics import count_connection_cap_refusal
from service.observability.middleware import CUT_SHORT_CYCLE
from service.paths import LIVENESS, app_path

if TYPE_CHECKING:
    from uvicorn._types import ASGI3Application

logger = logging.getLogger(__name__)


class HeaderDeadline(HttpToolsProtocol):
    """One connection: uvicorn's httptools protocol, closed when a request head is late or
    will not end; beyond the connection cap and at the shutdown limit, answered in the
    service's shape."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        header_timeout: float,
        max_header_bytes: int,
        cors_origins: tuple[str, ...],
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout = header_timeout
        self.max_header_bytes = max_header_bytes
        self.cors_origins = cors_origins
        self._head_late: asyncio.TimerHandle | None = None
        self._head_bytes = 0  # received since the head's deadline was armed
        self._refused = False  # a head that would not end: what still comes is dropped
        self._rest_late: asyncio.TimerHandle | None = None
        self.url = b""  # uvicorn's, set as a request line begins: a head may have none yet

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._head_late is not None:  # a head is still to complete: all of this may be it
            self._head_bytes += len(data)
        super().data_received(data)
        # Still incomplete once parsed: every byte since the deadline was armed is head (but
        # what followed a previous request in the same read, which goes uncounted).
        if self._head_late is not None and self._head_bytes > self.max_header_bytes:
            self._refuse_long_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # a later request on the connection; the first keeps its earlier deadline

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._forget_the_rest()
        self.url = b""  # not the next head's, which may never get a request line

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.cycle is not None and self.cycle.more_body and not self.transport.is_closing():
            # Answered before its body was read: uvicorn reads the rest and throws it away,
            # and each byte of it restarts the keep-alive wait, so a client refused (no API
            # key) could trickle a body and hold a connection for good, until the cap
            # refused everyone. Closing at once could reset the answer away (a close with
            # unread data sends RST): the rest gets as long as a head, as nginx lingers.
            self._rest_late = self.loop.call_later(self.header_timeout, self._close_unread)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._forget_the_rest()
        super().connection_lost(exc)

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        # Where uvicorn starts each request with the app to run it: its 503 app beyond the cap.
        run = cast("ASGIApp", app)
        if app is service_unavailable:
            cycle.keep_alive = False  # answered, it leaves the process under its cap
            if app_path(cast("Scope", cycle.scope)) in LIVENESS:
                # A full process is still alive: refused, its liveness probe would have it
                # restarted for being busy (readiness still says 503: send no more here).
                run = cast("ASGIApp", self.app)
            else:  # counted here: the app, and with it the request metrics, never see it
                count_connection_cap_refusal()
                run = _over_the_cap(self.cors_origins)  # a CORS preflight is answered too
        cut_short = functools.partial(answer_if_cut_short, run, cycle, self.cors_origins)
        super()._start_asgi_task(cycle, cast("ASGI3Application", cut_short))

    def _arm(self) -> None:
        if self._head_late is None:
            self._head_late = self.loop.call_later(self.header_timeout, self._close_late)
            self._head_bytes = 0

    def _disarm(self) -> None:
        if self._head_late is not None:
            self._head_late.cancel()
            self._head_late = None

    def _refuse_long_head(self) -> None:
        """431 in the service's error shape (the protocol's, where the path has come and is
        under /v2), written here: no request has begun for the app to answer. Unless an
        earlier request's answer on this connection is still to come, which the 431 would be
        taken for: that one is finished, and the connection closed after it, unanswered, as
        a late head's is. Either way, what still comes is read and dropped."""
        self._disarm()
        self._refused = True
        logger.debug(
            "refusing %s: a request head of more than %d bytes", self.client, self.max_header_bytes
        )
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
            return
        refused = header_too_large(self.max_header_bytes)
        path = self.url.partition(b"?")[0].decode("latin-1")
        scope = {"type": "http", "path": path, "root_path": ""}
        response = response_to(refused, cast("Scope", scope))
        head = [STATUS_LINE[refused.status_code]]
        for name, value in [*self.server_state.default_headers, *response.raw_headers]:
            head += [name, b": ", value, b"\r\n"]
        self.transport.write(b"".join([*head, b"\r\n", bytes(response.body)]))
        # Not closed at once, which with the rest unread would reset the answer away: the
        # rest is read and dropped (as nginx lingers) until the client closes, or for as
        # long as a head may take.
        self.transport.write_eof()
        self._rest_late = self.loop.call_later(self.header_timeout, self._close_unread)

    def _forget_the_rest(self) -> None:
        if self._rest_late is not None:
            self._rest_late.cancel()
            self._rest_late = None

    def _close_unread(self) -> None:
        self._rest_late = None
        logger.debug(
            "closing %s: the rest of a request answered unread not in within %g s",
            self.client,
            self.header_timeout,
        )
        self.transport.close()

    def _close_late(self) -> None:
        self._head_late = None
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request's head is late while an answer is still being written:
            # close after that answer, as uvicorn's own shutdown does.
            self.cycle.keep_alive = False
            return
        logger.debug(
            "closing %s: no complete request head within %g s", self.client, self.header_timeout
        )
        self.transport.close()


RETRY_AND_CLOSE = {"Retry-After": "1", "Connection": "close"}


async def too_many_connections(scope: Scope, receive: Receive, send: Send) -> None:
    """The answer beyond the connection cap."""
    refused = Overloaded(
        "too many connections to this server; retry shortly", headers=RETRY_AND_CLOSE
    )
    await response_to(refused, scope)(scope, receive, send)


@functools.cache
def _over_the_cap(cors_origins: tuple[str, ...]) -> ASGIApp:
    return with_cors(too_many_connections, cors_origins)


async def answer_if_cut_short(
    app: ASGIApp,
    cycle: RequestResponseCycle,
    cors_origins: tuple[str, ...],
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    """Run the request; if uvicorn cancels it at the shutdown limit before its answer has
    begun, answer 503 instead. uvicorn cancels a request's task for nothing else (a client
    that goes away is told by ``receive``); an answer already begun cannot be replaced, and
    the cancellation goes on to uvicorn, which closes the connection."""
    # For the request metrics (see ObserveRequests); taken out again at the end, since the
    # cycle holds the scope: left in, the pair (and the request's body) would wait for the
    # cyclic garbage collector instead of going when the request does.
    scope[CUT_SHORT_CYCLE] = cycle
    try:
        await app(scope, receive, send)
    except asyncio.CancelledError:
        if cycle.response_started:
            raise
        logger.warning("%s %s cut short by the shutdown limit", scope["method"], scope["path"])
        cut = ShuttingDown("the server is shutting down; retry", headers=RETRY_AND_CLOSE)
        response = response_to(cut, scope)
        echo_request_id(scope, response)
        await with_cors(response, cors_origins)(scope, receive, send)
    finally:
        del scope[CUT_SHORT_CYCLE]


def http_protocol(
    header_timeout: float, max_header_bytes: int, cors_origins: Sequence[str]
) -> type[asyncio.Protocol]:
    """What uvicorn's ``http`` option takes: it calls this with each new connection."""
    # A partial, not a class made here: it pickles by reference into uvicorn's spawned
    # worker processes (LENET_WORKERS > 1), a class made at run time would not.
    factory = functools.partial(
        HeaderDeadline,
        header_timeout=header_timeout,
        max_header_bytes=max_header_bytes,
        cors_origins=tuple(cors_origins),
    )
    return cast(type[asyncio.Protocol], factory)
