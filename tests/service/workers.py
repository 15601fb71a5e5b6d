"""``python -m service`` with several worker processes, in a process of its own: its workers,
the sockets they listen on, and each one's own counts."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.multiprocess import MultiProcessCollector

from service.observability.exposition import written
from tests.service.processes import free_port, service_env, start

PREDICTED = {"route": "/v1/predict", "status": "200"}
LISTEN = "0A"
"""A listening TCP socket's state in /proc/net/tcp."""


@dataclass(frozen=True)
class Workers:
    """A ``python -m service`` whose workers have all started listening."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    tmp: Path
    """Its TMPDIR, where the workers' shared metrics directory goes."""

    def pids(self) -> set[int]:
        """The worker processes: the parent's children that multiprocessing spawned (not its
        resource tracker)."""
        return {
            pid
            for pid in children(self.process.pid)
            if b"spawn_main" in read_bytes(f"/proc/{pid}/cmdline")
        }

    def events(self) -> str:
        """Its log but the access log's lines: workers started, stopped, replaced."""
        return "\n".join(line for line in self.log.read_text().splitlines() if line[:1] != "{")

    def listeners(self) -> int:
        return listening_sockets(self.port)

    def metrics_dir(self) -> Path:
        [shared] = self.tmp.glob("lenet-metrics-*")
        return shared

    def values(self, kind: str, name: str, **labels: str) -> dict[int, float]:
        """Each worker's own sum of ``name``'s samples with ``labels``, by pid, from its file
        of metrics of ``kind`` (``counter``, ``gauge_livesum``...): prometheus-client writes
        one for each process once it has a value of that kind to keep (and sizes it just
        after creating it: until then it holds nothing)."""
        values = {}
        for path in self.metrics_dir().glob(f"{kind}_*.db"):
            if not written(str(path)):
                continue
            metrics = MultiProcessCollector.merge([str(path)])
            values[int(path.stem.rsplit("_", 1)[1])] = sum(
                sample.value
                for metric in metrics
                for sample in metric.samples
                if sample.name == name and labels.items() <= sample.labels.items()
            )
        return values

    def queued(self) -> dict[int, float]:
        """Each worker's images waiting for a model call, by pid."""
        return self.values("gauge_livesum", "lenet_queued_images")

    def answered(self, total: int) -> dict[int, float]:
        """Each worker's count of predict requests answered 200, once ``total`` have been
        counted (or 10 s have passed): a request is counted just after its answer has gone,
        so the last may trail the client."""
        deadline = time.monotonic() + 10
        while True:
            counts = self.values("counter", "lenet_requests_total", **PREDICTED)
            if sum(counts.values()) >= total or time.monotonic() > deadline:
                return counts
            time.sleep(0.05)

    def ready(self, count: int) -> bool:
        """Whether ``count`` workers run, each listening and serving a model version (each
        loads its own after it starts listening)."""
        if not list(self.tmp.glob("lenet-metrics-*")):
            return False  # the parent has not started any worker yet
        pids = self.pids()
        loaded = self.values("gauge_livemax", "lenet_model_version_loaded")
        serving = len(pids) == count and all(loaded.get(pid) for pid in pids)
        return serving and self.listeners() == count

    def wait_for(self, count: int, timeout: float = 120) -> None:
        """Until ``ready(count)``."""
        deadline = time.monotonic() + timeout
        while not self.ready(count):
            assert self.process.poll() is None, f"the server exited:\n{self.log.read_text()}"
            assert time.monotonic() < deadline, f"never {count} workers ready: {self.pids()}"
            time.sleep(0.1)


@contextmanager
def workers(tmp: Path, count: int = 2, **settings: str) -> Iterator[Workers]:
    """``python -m service`` with ``count`` workers (the NumPy backend, quick to load), ready;
    stopped at the end, pass or fail."""
    port = free_port()
    env = service_env(
        port, LENET_BACKENDS='["numpy"]', LENET_WORKERS=str(count), TMPDIR=str(tmp), **settings
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp / "stderr.log"
    with log.open("wb") as stderr:  # a file, not a pipe: the access log is long
        process = start(env, stderr)
    served = Workers(f"http://127.0.0.1:{port}", port, process, log, tmp)
    try:
        served.wait_for(count)
        yield served
    finally:
        process.terminate()
        process.wait(timeout=30)


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = read_bytes(str(stat)).rsplit(b")", 1)[-1].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def listening_sockets(port: int) -> int:
    """TCP sockets in LISTEN state on ``port``, any process's, over IPv4 or IPv6 (grpcio
    listens on 127.0.0.1 through an IPv6 socket, mapping the address)."""
    return sum(
        int(local.rsplit(":", 1)[1], 16) == port and state == LISTEN
        for table in ("/proc/net/tcp", "/proc/net/tcp6")
        for local, _, state in (
            line.split()[1:4] for line in Path(table).read_text().splitlines()[1:]
        )
    )


def read_bytes(path: str) -> bytes:
    """The file's bytes, or none if its process has gone meanwhile."""
    try:
        return Path(path).read_bytes()
    except OSError:
        return b""
