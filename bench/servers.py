"""Start and stop the HTTP servers under test, each a uvicorn process on 127.0.0.1.

All of them run the same uvicorn (one process, the event loop and HTTP parser it picks: uvloop
and httptools where installed; no access log), so they differ only in the app: ours through
``python -m service`` exactly as it ships, the previous code the same way from a tree exported
from git, the ceiling and the naive app through ``python -m uvicorn``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from bench import baseline
from bench.targets import OURS, PREVIOUS, QUIET

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
READY_TIMEOUT_S = 120.0
T = TypeVar("T")
READY_STREAK_PER_WORKER = 10
"""/readyz answers in a row, per worker, before a multi-worker server counts as ready."""


class ServerFailed(RuntimeError):
    """A server exited or never became ready; the message ends with its log."""


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server: its label, command line and extra environment."""

    name: str
    argv: list[str]
    env: Mapping[str, str] = field(default_factory=dict)
    query: str = ""
    """Appended to ``/v1/...`` paths, e.g. ``?backend=numpy`` (v2 names one in its body)."""
    v2: bool = False
    """Speaks the Open Inference Protocol over REST (``/v2``): ours, not the previous code,
    the ceiling or the naive app."""
    grpc_port: int = 0
    """``LENET_GRPC_PORT``: the gRPC twin of ``/v2`` on this port, picked free; 0 is off."""
    port_flag: bool = False
    """Pass the port as ``--port`` (uvicorn's CLI) as well as ``LENET_PORT`` (our service)."""
    workers: int = 1
    """uvicorn worker processes; CPU, switches and memory are summed over all of them."""
    ready_line: str = ""
    """Logged once by each worker when it is ready (a server has no per-worker probe)."""
    cwd: Path | None = None
    """Working directory (the repository root when None). ``python -m`` puts it first on
    ``sys.path``, ahead of the venv's editable install, so a tree exported there runs its
    own packages."""
    imports: str = ""
    """A file under ``cwd`` the server must have imported once ready (checked by its bytecode
    cache), so that the current tree's copy cannot stand in for it unnoticed."""


@dataclass
class Server:
    """A running server: its process, base URL and how long it took to become ready."""

    spec: ServerSpec
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def url_for(self, path: str) -> str:
        """``path`` on this server, with the spec's query where it applies (``/v1``)."""
        return f"{self.url}{path}{self.spec.query if path.startswith('/v1/') else ''}"

    @property
    def grpc_address(self) -> str:
        return f"{HOST}:{self.spec.grpc_port}"

    def cpu_seconds(self) -> float:
        """User plus system CPU time used so far, all threads of all its processes."""
        return sum(_alive(process_cpu_seconds, pid, 0.0) for pid in self._tree())

    def context_switches(self) -> int:
        """Voluntary plus involuntary context switches of its live threads so far."""
        return sum(_alive(process_context_switches, pid, 0) for pid in self._tree())

    def memory_kib(self) -> dict[str, int]:
        """Resident set now (VmRSS) and the sum of peaks (VmHWM), from /proc, in KiB."""
        total = {"VmRSS": 0, "VmHWM": 0}
        for pid in self._tree():
            for key, kib in _alive(process_memory_kib, pid, {}).items():
                total[key] += kib
        return total

    def connections_per_worker(self) -> list[int]:
        """Established connections each worker process holds now, most first: with several
        workers, how the kernel (or their race to accept) spread the load's connections."""
        port = int(self.url.rsplit(":", 1)[1])
        listening, established = port_sockets(port)
        counts = []
        for pid in self._tree()[1:]:
            held = _alive(socket_inodes, pid, set())
            if held & listening:  # a worker, not multiprocessing's resource tracker
                counts.append(len(held & established))
        return sorted(counts, reverse=True)

    def _tree(self) -> list[int]:
        return process_tree(self.process.pid)


def named(base: str, workers: int) -> str:
    """``ours-onnx``, or ``ours-onnx-2w`` for two worker processes."""
    return base if workers == 1 else f"{base}-{workers}w"


def ours(backend: str, model_root: Path, workers: int = 1, grpc: bool = False) -> ServerSpec:
    """``python -m service`` serving one backend, as deployed, without version polling; gRPC
    off unless asked for (on a free port then: the default 8001 would be one for all)."""
    grpc_port = free_port() if grpc else 0
    return ServerSpec(
        name=named(f"{OURS}{backend}", workers),
        argv=[sys.executable, "-m", "service"],
        env={
            "LENET_HOST": HOST,
            "LENET_MODEL_ROOT": str(model_root),
            "LENET_BACKENDS": json.dumps([backend]),
            "LENET_POLL_SECONDS": "0",
            "LENET_GRPC_PORT": str(grpc_port),
            "LENET_WORKERS": str(workers),
            "LENET_LOG_LEVEL": "info",  # as deployed: one access-log line per request
        },
        query=f"?backend={backend}",
        v2=True,
        grpc_port=grpc_port,
        workers=workers,
        ready_line="serving lenet version",  # service.runtime.repository logs it per version loaded
    )


def as_configured(model_root: Path) -> ServerSpec:
    """``python -m service`` with its default backends, asked without ``?backend=``: what a
    user who names no backend gets."""
    spec = ours("default", model_root)
    env = {name: value for name, value in spec.env.items() if name != "LENET_BACKENDS"}
    return replace(spec, env=env, query="")


def previous(spec: ServerSpec, tree: Path) -> ServerSpec:
    """``spec`` (one of ours) at an earlier revision, exported to ``tree``, started exactly
    like ours: same command, same ``LENET_*`` settings, same model; it predates ``/v2``."""
    return replace(
        spec,
        name=spec.name.replace(OURS, PREVIOUS, 1),
        env={**spec.env, "PYTHONDONTWRITEBYTECODE": ""},  # the cache proves what it imported
        cwd=tree,
        imports="service/app.py",
        v2=False,
        grpc_port=0,
    )


def quiet(spec: ServerSpec) -> ServerSpec:
    """``spec`` (one of ours) without ``/metrics`` counting and the access log: beside
    ``spec``, what those cost a request."""
    return replace(
        spec,
        name=spec.name + QUIET,
        env={**spec.env, "LENET_METRICS": "false", "LENET_ACCESS_LOG": "false"},
    )


def ceiling(workers: int = 1) -> ServerSpec:
    argv = _uvicorn("bench.ceiling_app:app")
    if workers > 1:
        argv += ["--workers", str(workers)]
    return ServerSpec(named("ceiling", workers), argv, port_flag=True, workers=workers)


def naive(keras_file: Path) -> ServerSpec:
    return ServerSpec(
        "naive",
        _uvicorn("bench.naive_app:app"),
        env={"BENCH_NAIVE_MODEL": str(keras_file)},
        port_flag=True,
    )


def _uvicorn(app: str) -> list[str]:
    # --port is filled in by start(); --log-level info matches LENET_LOG_LEVEL above: every
    # server writes its access log, as it would deployed.
    return [sys.executable, "-m", "uvicorn", app, "--host", HOST, "--log-level", "info"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _alive(read: Callable[[int], T], pid: int, gone: T) -> T:
    """``read(pid)``, or ``gone`` if the process exited since it was listed."""
    try:
        return read(pid)
    except FileNotFoundError:
        return gone


def process_tree(pid: int) -> list[int]:
    """``pid`` and its children (uvicorn's worker processes), from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
        if parent == pid:
            children.append(int(stat.parent.name))
    return [pid, *children]


TCP_STATES = {"01": "established", "0A": "listening"}
"""The states of /proc/net/tcp's ``st`` column counted here."""


def port_sockets(port: int) -> tuple[set[str], set[str]]:
    """The inodes of the TCP sockets on local ``port``: listening, and established."""
    found: dict[str, set[str]] = {state: set() for state in TCP_STATES.values()}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if int(local.rsplit(":", 1)[1], 16) == port and state in TCP_STATES:
                found[TCP_STATES[state]].add(inode)
    return found["listening"], found["established"]


def socket_inodes(pid: int) -> set[str]:
    """The inodes of the sockets among the process's open files."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def process_cpu_seconds(pid: int) -> float:
    # /proc/PID/stat: fields 14 and 15 (utime, stime) in clock ticks; the command name in
    # parentheses may hold spaces, so count from the last ")".
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_context_switches(pid: int) -> int:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        for line in status.splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


def process_memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def launch(spec: ServerSpec, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Spawn the server on a free port, output to ``log``; returns the process and base URL."""
    port = free_port()
    argv = [*spec.argv, "--port", str(port)] if spec.port_flag else spec.argv
    env = {**os.environ, **spec.env, "LENET_PORT": str(port)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            cwd=spec.cwd or ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return process, f"http://{HOST}:{port}"


def wait_ready(
    process: subprocess.Popen[bytes],
    url: str,
    log: Path,
    timeout: float,
    *,
    workers: int = 1,
    ready_line: str = "",
) -> None:
    """Poll ``/readyz`` every 20 ms until it answers 200 and, with several workers, each has
    logged ``ready_line`` (or, without one, answered 200 often in a row on new connections);
    raise if the process dies first."""
    deadline = time.monotonic() + timeout
    streak = 1 if workers == 1 or ready_line else READY_STREAK_PER_WORKER * workers
    answered = 0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerFailed(f"{url} exited with {process.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                answered = answered + 1 if response.status == 200 else 0
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            answered = 0
        logged = workers == 1 or not ready_line or _count(log, ready_line) >= workers
        if answered >= streak and logged:
            return
        time.sleep(0.02)
    raise ServerFailed(f"{url} was not ready after {timeout:.0f} s:\n{_tail(log)}")


def _count(log: Path, line: str) -> int:
    try:
        return log.read_text(errors="replace").count(line)
    except OSError:
        return 0


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn shuts down cleanly), SIGKILL after 10 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def running(specs: list[ServerSpec], log_dir: Path | None = None) -> Iterator[list[Server]]:
    """Start every server at once (their imports overlap), wait for all, stop all on exit."""
    with ExitStack() as stack:
        logs = Path(log_dir or stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        started = []
        for spec in specs:
            log = logs / f"{spec.name}.log"
            process, url = launch(spec, log)
            stack.callback(stop, process)
            started.append(Server(spec, process, url, log))
        for server in started:
            wait_ready(
                server.process,
                server.url,
                server.log,
                READY_TIMEOUT_S,
                workers=server.spec.workers,
                ready_line=server.spec.ready_line,
            )
            if server.spec.imports and not baseline.imported_from(
                server.spec.cwd or ROOT, server.spec.imports
            ):
                raise ServerFailed(
                    f"{server.spec.name} is ready but never imported {server.spec.imports} "
                    f"from {server.spec.cwd}: another copy of it ran"
                )
        yield started


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
