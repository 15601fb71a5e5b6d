"""What a stop signal sets off in a serving process: first a lame-duck period, then the drain.

A load balancer that picks replicas by probing their readiness (compose's ``scale`` proxy,
which probes every second; Kubernetes' endpoints) keeps sending to a replica for a moment
after it is told to stop. Over HTTP that moment costs nothing: a refused connection or one
closed before an answer is sent again elsewhere (nginx's ``proxy_next_upstream``). Over gRPC
it can cost a call: grpcio's server, once stopped, ends the calls that had arrived but not yet
reached the servicer with CANCELLED (grpc/grpc#41785, open), a final answer that no proxy
or client retries; the scale e2e test lost one call in a few replica stops that way.

So on SIGTERM a process first says it is leaving: readiness (``/readyz``,
``/v2/health/ready``, gRPC ``ServerReady``) answers 503 ``shutting_down`` (ready: false)
while everything else goes on serving, for ``LENET_SHUTDOWN_DELAY_SECONDS``; then it drains
(uvicorn stops accepting and finishes what is in flight, the gRPC server the same). Kubernetes'
``preStop`` sleep gives the same pause before the signal, so the manifests leave the delay at 0.
SIGINT (Ctrl-C), or a second signal during the pause, drains at once.

With ``LENET_WORKERS`` > 1 each worker process pauses on its own: uvicorn's supervisor passes
SIGTERM and SIGINT alike on to them as SIGTERM, so there every stop pauses, and a worker it
restarts alone (SIGHUP) answers ``shutting_down`` for the pause while the others are ready;
a proxy probing it then drops the replica until its next probe.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from service.errors import ShuttingDown

logger = logging.getLogger(__name__)


class Termination:
    """Whether this process has been told to stop: from then on it is not ready."""

    def __init__(self) -> None:
        self.signalled = False

    def raise_if_signalled(self) -> None:
        """For readiness probes: 503 ``shutting_down`` once a stop signal has come."""
        if self.signalled:
            raise ShuttingDown(
                "the server is shutting down: send requests to another replica",
                headers={"Retry-After": "1"},
            )


@contextmanager
def on_stop_signals(
    termination: Termination, delay_s: float, drain: Callable[[], object] | None
) -> Iterator[None]:
    """On SIGTERM, mark ``termination``, wait ``delay_s``, then run ``drain`` (the gRPC
    server's) and the handler that was there (uvicorn's, which starts the HTTP drain). Off the
    main thread (tests driving the lifespan) or where no handler is there to pass the signal
    on to, nothing is added."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    chained = {sig: handler for sig, handler in previous.items() if callable(handler)}
    draining = False

    def begin_drain(signum: int) -> None:
        nonlocal draining
        draining = True
        if drain is not None:
            drain()
        chained[signal.Signals(signum)](signum, None)

    def pause(signum: int) -> None:
        logger.info("SIGTERM: not ready from now on; serving on for %g s before draining", delay_s)
        loop.call_later(delay_s, after_delay, signum)

    def after_delay(signum: int) -> None:
        if not draining:  # else a second signal began it already
            begin_drain(signum)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        """Only flags and a callback here: the loop does the rest (logging from a signal
        handler can interrupt a write to the same stream)."""
        first = not termination.signalled
        termination.signalled = True
        if first and signum == signal.SIGTERM and delay_s > 0:
            loop.call_soon_threadsafe(pause, signum)
        else:
            loop.call_soon_threadsafe(begin_drain, signum)

    for sig in chained:
        signal.signal(sig, on_signal)
    try:
        yield
    finally:
        for sig, handler in chained.items():
            signal.signal(sig, handler)
