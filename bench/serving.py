"""Part 1: ``/v1/predict`` over HTTP with wrk, our service (one process per backend) beside the
framework ceiling and the naive Keras service, all running at once on the same machine; our
servers also take the Open Inference Protocol's bodies on ``/v2``, and our ONNX server its
gRPC calls (``bench.grpc_load``), and again without metrics and the access log.

Besides wrk's figures, each run records the server's CPU time (all threads, /proc) per request,
its CPU use in percent, and its threads' context switches per request: on 2 cores shared with
wrk, CPU per request is what bounds req/s, and these say where a gap comes from better than
wall-clock latency does.

For each concurrency and body every server is loaded in turn, back to back, so all of them see
the same background load within a minute or two of each other; ratios are taken within such a
cell, or, for v2 against /v1 JSON on one server, between bodies sent one after the other. The
cells run in rounds, every other one in reverse order (``bench.rounds``), so that a drifting
background load falls on both sides of a ratio alike.
The previous code (``--baseline``) runs beside ours the same way, so "as fast as before" is a
ratio within one run too.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from bench import grpc_load, http_load, rounds, servers
from bench.bodies import BODIES, JSON, PNG, V2_BODIES
from bench.modeldir import ModelDir
from bench.targets import OUR_BACKENDS
from model import artifacts

WARMUP_CONNECTIONS = 8
HTTP_BODIES = BODIES | V2_BODIES
BODY_NAMES = (JSON.name, *V2_BODIES, PNG.name, grpc_load.BODY)
"""Every body the part can send, in the order it sends them: v2's right after the /v1 JSON
they are set beside."""
PROTOCOL_BACKEND = "onnx"
"""Our server that also serves gRPC, and runs again quiet (no metrics, no access log)."""


def specs(
    model: ModelDir,
    backends: list[str],
    naive: bool,
    workers: list[int],
    previous: Path | None = None,
) -> list[servers.ServerSpec]:
    """Every backend in one process (ONNX with gRPC on, then again quiet, gRPC on too);
    with all three, also the service as configured by default, asked without naming a
    backend; the previous code (exported to ``previous``) likewise on our ONNX backend (or
    the first asked for) and as configured; the ceiling, the naive app; then, for each
    worker count above one, that backend of ours, the ceiling and the previous code with
    that many."""
    chosen = []
    for backend in backends:
        protocols = backend == PROTOCOL_BACKEND
        chosen.append(servers.ours(backend, model.root, grpc=protocols))
        if protocols:  # right after it, so both see the same background load; gRPC on too,
            # so that the two differ in metrics and the access log only
            chosen.append(servers.quiet(servers.ours(backend, model.root, grpc=True)))
    scaled = scaled_backend(backends)
    as_configured = set(backends) >= set(OUR_BACKENDS)
    if as_configured:
        chosen.append(servers.as_configured(model.root))
    if previous:
        chosen.append(servers.previous(servers.ours(scaled, model.root), previous))
        if as_configured:
            chosen.append(servers.previous(servers.as_configured(model.root), previous))
    chosen.append(servers.ceiling())
    if naive:
        chosen.append(servers.naive(model.version_dir / artifacts.KERAS_FILE))
    for count in (w for w in workers if w > 1):
        chosen += [servers.ours(scaled, model.root, count), servers.ceiling(count)]
        if previous:  # how the previous code spread its connections over as many workers
            chosen.append(servers.previous(servers.ours(scaled, model.root, count), previous))
    return chosen


def scaled_backend(backends: list[str]) -> str:
    """The backend run with several workers, against the previous code, and over v2."""
    return "onnx" if "onnx" in backends else backends[0]


def takes(spec: servers.ServerSpec, body_name: str, scaled: str) -> bool:
    """/v1's bodies go to every server; v2's to our one-process server of the ``scaled``
    backend (ONNX, or the first asked for) and its quiet twin, which is enough to set v2
    beside /v1 and keeps the part's minutes down; gRPC to those serving it."""
    if body_name == grpc_load.BODY:
        return spec.grpc_port != 0
    ours = spec.name.removesuffix(servers.QUIET) == f"{servers.OURS}{scaled}"
    return body_name in BODIES or (spec.v2 and ours)


def check(server: servers.Server, body_name: str) -> None:
    """The right digit before any load (a gRPC run checks it itself, first thing)."""
    if body_name != grpc_load.BODY:
        body = HTTP_BODIES[body_name]
        http_load.check_answer(server.url_for(body.path), body)


def load(
    server: servers.Server, body_name: str, connections: int, duration_s: float
) -> dict[str, Any]:
    """One run in wrk's shape: wrk over HTTP, or ``bench.grpc_load`` over gRPC."""
    if body_name == grpc_load.BODY:
        return grpc_load.run(server.grpc_address, connections, duration_s)
    body = HTTP_BODIES[body_name]
    return http_load.run_wrk(server.url_for(body.path), body, connections, duration_s)


def client_cpu(result: dict[str, Any]) -> str:
    """The gRPC client's own CPU per request, for the progress line."""
    if "client_cpu_ms_per_request" not in result:
        return ""
    return f", client {result['client_cpu_ms_per_request']:.2f}"


def measure(
    server: servers.Server, body_name: str, connections: int, duration_s: float, progress: Any
) -> dict[str, Any]:
    """One load on one server, with the server's CPU and context switches during it, and,
    with several workers, how many of the load's connections each held halfway through."""
    spread: list[list[int]] = []

    def look() -> None:
        spread.append(server.connections_per_worker())

    halfway = threading.Timer(duration_s / 2, look)
    several = server.spec.workers > 1
    cpu_before, switches_before = server.cpu_seconds(), server.context_switches()
    if several:
        halfway.start()
    result = load(server, body_name, connections, duration_s)
    if several:
        halfway.cancel()  # a load that ended early (errors)
        halfway.join()
    if spread:
        result["connections_per_worker"] = spread[0]
    cpu = server.cpu_seconds() - cpu_before
    switches = server.context_switches() - switches_before
    requests = max(result["requests"], 1)
    result["server_cpu_ms_per_request"] = round(1000 * cpu / requests, 3)
    result["server_cpu_percent"] = round(100 * cpu / result["seconds"])
    result["server_context_switches_per_request"] = round(switches / requests, 1)
    progress(
        f"  {server.spec.name:16} {body_name:9} c={connections:<3} "
        f"{result['rps']:8.1f} req/s  p50 {result['p50_ms']:7.2f} ms  "
        f"p99 {result['p99_ms']:8.2f} ms  errors {result['errors']}  "
        f"CPU {result['server_cpu_ms_per_request']:.2f} ms/request"
        + client_cpu(result)
        + (f", connections per worker {spread[0]}" if spread else "")
    )
    return {"server": server.spec.name, "body": body_name, "connections": connections} | result


def load_rounds(
    taking: dict[str, list[servers.Server]],
    connections: list[int],
    duration_s: float,
    warmup_s: float,
    rounds_each: int,
    progress: Any,
) -> list[dict[str, Any]]:
    """Each server checked and warmed up on each body it takes (``taking``: body -> servers),
    then every (connections, body, server) cell loaded in ``rounds_each`` rounds that share
    the cell's ``duration_s``, bodies and servers in reverse order every other round; the
    rounds' own runs, each with its round's index."""
    for body_name, loaded in taking.items():
        for server in loaded:
            check(server, body_name)
            if warmup_s:
                load(server, body_name, WARMUP_CONNECTIONS, warmup_s)
    runs = []
    for count in connections:
        for index in range(rounds_each):
            for body_name, loaded in rounds.in_order(list(taking.items()), index):
                for server in rounds.in_order(loaded, index):
                    runs.append(
                        measure(server, body_name, count, duration_s / rounds_each, progress)
                        | {"round": index}
                    )
    return runs


def run(
    model: ModelDir,
    *,
    backends: list[str],
    bodies: list[str],
    connections: list[int],
    duration_s: float,
    warmup_s: float,
    rounds_each: int = 1,
    naive: bool = True,
    workers: tuple[int, ...] = (1,),
    previous: Path | None = None,
    log_dir: Path | None = None,
    progress: Any = print,
) -> dict[str, Any]:
    """Every (connections, body, server) cell, in that order, for the servers that take that
    body, in ``rounds_each`` rounds (``bench.rounds``) that share the cell's ``duration_s``;
    each server's memory at the end.

    Within one concurrency every body follows the last within minutes: a server's v2 cells
    are set beside its /v1 JSON cell, measured under the same background load. ``runs`` are
    the cells, each its rounds together; ``round_runs`` the rounds' own runs."""
    chosen = specs(model, backends, naive, list(workers), previous)
    scaled = scaled_backend(backends)
    with servers.running(chosen, log_dir) as started:
        taking = {
            body_name: [server for server in started if takes(server.spec, body_name, scaled)]
            for body_name in bodies
        }
        runs = load_rounds(taking, connections, duration_s, warmup_s, rounds_each, progress)
        memory = {
            server.spec.name: {
                key: round(kib / 1024, 1) for key, kib in server.memory_kib().items()
            }
            for server in started
        }
    return {
        "wrk": http_load.wrk_version(),
        "duration_s": duration_s,
        "rounds": rounds_each,
        "servers": [server.name for server in chosen],
        "memory_after_load_mib": memory,
        "runs": rounds.merge(runs),
        "round_runs": runs,
    }
