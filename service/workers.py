"""Several worker processes (``LENET_WORKERS`` > 1), each accepting on a socket of its own.

uvicorn's ``--workers`` binds one listening socket in the parent and every worker accepts
from it. Each new connection wakes them all and whichever gets to it first takes it, along
with any others queued behind it; keep-alive connections then stay where they landed, so a
load generator's (or a proxy's) handful of connections often sits mostly on one worker while
the other idles, and the busy one's requests wait (docs/benchmarks.md, the ``-2w`` rows).
Here, on Linux, each worker binds the same host:port itself with ``SO_REUSEPORT`` and listens
on its own socket: the kernel hands every new connection to one of the listeners by a hash of
its addresses and ports, whatever the workers are doing at that moment.

The rest stays uvicorn's: its supervisor (``uvicorn.supervisors.Multiprocess``) starts the
workers, passes SIGTERM and SIGINT on to each (which drains as one process does), replaces a
worker that dies, and takes SIGHUP, SIGTTIN and SIGTTOU; each worker is a ``uvicorn.Server``
with the same config (protocol, limits, logging). The seam is the list of sockets the
supervisor hands every worker it spawns, pickled for each start: ours is a socket that
pickles as its address, so each worker, a replacement too, unpickles a socket of its own.
The parent keeps its socket bound but never listening: the port stays held between worker
starts, a port another program holds fails at once, and port 0 becomes one port for all.
``python -m service`` holds the gRPC port the same way, one worker or several.

Costs: a worker that dies takes the connections still waiting in its own accept queue with it
(they are reset; one shared queue would outlive any worker). Elsewhere than Linux
``SO_REUSEPORT`` does not spread connections, so there the workers share uvicorn's socket.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from uvicorn import Config, Server
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess

logger = logging.getLogger("uvicorn.error")

SPREADS_CONNECTIONS = sys.platform.startswith("linux")
"""Whether listeners sharing a port with ``SO_REUSEPORT`` each get a share of its connections."""

S = TypeVar("S", bound=socket.socket)
Address = tuple[Any, ...]
"""What ``socket.getsockname`` gives: (host, port), with IPv6's flow and scope after."""


def serve(config: Config, on_worker_exit: Callable[[int], None]) -> None:
    """Serve ``config``: in this process with one worker, as ``uvicorn.run`` does; with
    several, under uvicorn's supervisor, each on a socket of its own where the kernel spreads
    connections. ``on_worker_exit`` gets the pid of every worker that exited and was replaced.
    Exits with uvicorn's startup-failure status when the app (or a worker) cannot start."""
    if config.workers == 1:
        server = Server(config)
        server.run()
        started = server.started
    else:
        sockets = [reserve(config) if SPREADS_CONNECTIONS else config.bind_socket()]
        supervisor = Supervisor(config, sockets, on_worker_exit)
        supervisor.run()
        started = not supervisor.failed_to_start()
    if not started:
        sys.exit(STARTUP_FAILURE)


class Supervisor(Multiprocess):
    """uvicorn's, telling ``on_worker_exit`` which workers it replaced and whether it
    stopped because a worker could not start (uvicorn's own parent then exits 0)."""

    def __init__(
        self, config: Config, sockets: list[socket.socket], on_worker_exit: Callable[[int], None]
    ) -> None:
        super().__init__(config, sockets)
        self.on_worker_exit = on_worker_exit
        self._pids: set[int] = set()

    def init_processes(self) -> None:
        super().init_processes()
        self._pids = self._running()

    def keep_subprocess_alive(self) -> None:
        """uvicorn's check of every worker, each tick; then the workers gone since the last
        tick (replaced here, or by SIGHUP's restart or SIGTTOU just before) are reported."""
        super().keep_subprocess_alive()
        pids = self._running()
        for pid in self._pids - pids:
            self.on_worker_exit(pid)
        self._pids = pids

    def _running(self) -> set[int]:
        return {process.pid for process in self.processes if process.pid is not None}

    def failed_to_start(self) -> bool:
        return any(process.exitcode == STARTUP_FAILURE for process in self.processes)


class SharedAddress(socket.socket):
    """The parent's socket on the served address: bound with ``SO_REUSEPORT``, never
    listening. It pickles as its address: a worker that receives it binds its own."""

    def __reduce__(self) -> tuple[Callable[[socket.AddressFamily, Address], socket.socket], Any]:
        return own_socket, (self.family, self.getsockname())


def reserve(config: Config) -> SharedAddress:
    """Hold ``config``'s host and port for the workers, logged as uvicorn logs its socket."""
    sock = hold(config.host, config.port)
    host, port = sock.getsockname()[:2]
    where = f"[{host}]" if sock.family == socket.AF_INET6 else host
    logger.info("Uvicorn running on http://%s:%d (Press CTRL+C to quit)", where, port)
    return sock


def hold(host: str, port: int, server: str = "") -> SharedAddress:
    """Hold ``host`` and ``port`` for this service's processes, which bind it with
    ``SO_REUSEPORT``; exit with uvicorn's startup-failure status, naming ``server`` (the
    gRPC one) where given, when it is taken.

    A plain bind first, without ``SO_REUSEPORT``: it fails while anything listens there, this
    service started a second time too, which would otherwise join the first one's listeners
    (any process of the same user may) and take a share of its connections. (Two started at
    the same moment, before either listens, can still both get through.)"""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with _bind(socket.socket(family), (host, port), reuse_port=False, server=server) as probe:
        address = probe.getsockname()  # the port picked, when asked for port 0
    return _bind(SharedAddress(family), address, server=server)


def own_socket(family: socket.AddressFamily, address: Address) -> socket.socket:
    """In a worker, as the parent's ``SharedAddress`` arrives: a socket of its own, bound to
    the same address (port included, when the parent asked for port 0)."""
    return _bind(socket.socket(family), address)


def _bind(sock: S, address: Address, reuse_port: bool = True, server: str = "") -> S:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: over TIME_WAIT
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        logger.error("cannot listen on %s%s: %s", address, f" for {server}" if server else "", exc)
        sys.exit(STARTUP_FAILURE)
    return sock
