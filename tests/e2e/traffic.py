"""The scale e2e's client: predictions through the proxy over HTTP and gRPC, each checked,
each answer's replica read from the proxy's ``X-Upstream`` header (a header on HTTP, initial
metadata on gRPC), so the test sees the spread without asking the replicas.

``spread``: a few calls of each kind, one after another; fails unless at least ``--expect``
replicas answered each kind. ``loop``: clients calling back to back until SIGINT or SIGTERM,
then the counts; fails on any failed call (an error, a timeout, a wrong answer) or when a
kind got no answer at all. ``versions``: asks replicas directly until each answers from a
version. Run with the venv's Python (httpx, grpcio, tritonclient)::

    .venv/bin/python tests/e2e/traffic.py spread --http 127.0.0.1:8000 --grpc 127.0.0.1:8001
    .venv/bin/python tests/e2e/traffic.py loop --http 127.0.0.1:8000 --grpc 127.0.0.1:8001
    .venv/bin/python tests/e2e/traffic.py versions --version 2 127.0.0.1:32768 127.0.0.1:32770
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
import httpx
import numpy as np
from tritonclient.grpc import InferResult, service_pb2, service_pb2_grpc

from service.api.examples import EXAMPLE_ARRAY, EXAMPLE_DIGIT, EXAMPLE_PNG

TIMEOUT_S = 30.0
"""A call slower than this is a failure: far above a prediction, even on a busy machine."""
HEADER = "x-upstream"


@dataclass(frozen=True)
class Answer:
    upstream: str
    """The proxy's X-Upstream: the replica that answered, after any it tried first."""
    resent: bool = False
    """The client sent the request again on a new connection (see ``http_caller``)."""


Call = Callable[[], Answer]
"""One checked prediction; raises on any failure."""


class WrongAnswer(AssertionError):
    """The call completed but did not read the example digit."""


def http_caller(address: str) -> Call:
    """POST /v1/predict with the example PNG over a keep-alive connection.

    A server may close an idle keep-alive connection just as the client sends on it, and
    nginx closes its idle ones whenever it reloads (upstreams.py reloads it when the replicas
    change): the client then sees the connection closed without any answer. HTTP/1.1 allows
    for this (RFC 9112, 9.3.1): a client may send the request again when it knows it to be
    idempotent, as a prediction is, and browsers do. So does this client, once, and says so.
    """
    client = httpx.Client(base_url=f"http://{address}", timeout=TIMEOUT_S)
    files = {"file": ("digit.png", EXAMPLE_PNG, "image/png")}

    def call() -> Answer:
        resent = False
        try:
            response = client.post("/v1/predict", files=files)
        except httpx.RemoteProtocolError as exc:
            if "without sending a response" not in str(exc):
                raise
            resent = True
            response = client.post("/v1/predict", files=files)
        if response.status_code != 200:
            raise WrongAnswer(f"HTTP {response.status_code}: {response.text[:200]}")
        digit = response.json()["predictions"][0]["digit"]
        if digit != EXAMPLE_DIGIT:
            raise WrongAnswer(f"digit {digit}")
        return Answer(response.headers.get(HEADER, "?"), resent)

    return call


def grpc_caller(address: str) -> Call:
    """ModelInfer with the example digit as raw FP32, over one channel (one HTTP/2 connection)."""
    stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(address))
    request = service_pb2.ModelInferRequest(model_name="lenet")
    image = request.inputs.add(name="image", datatype="FP32")
    image.shape.extend([1, 28, 28, 1])
    request.raw_input_contents.append(np.asarray(EXAMPLE_ARRAY, "<f4").tobytes())
    request.outputs.add(name="digit")

    def call() -> Answer:
        response, state = stub.ModelInfer.with_call(request, timeout=TIMEOUT_S)
        digit = InferResult(response).as_numpy("digit")[0]
        if digit != EXAMPLE_DIGIT:
            raise WrongAnswer(f"digit {digit}")
        return Answer(dict(state.initial_metadata()).get(HEADER, "?"))

    return call


@dataclass
class Tally:
    """What one kind of call saw: answers per replica, retries, failures by kind."""

    answered: Counter[str] = field(default_factory=Counter)
    retried: int = 0
    """Answers the proxy got only from a second or third replica (X-Upstream lists them)."""
    resent: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    """The first few failures in full, each with when it happened (``time.time()``), to set
    against the replica's stop and start and the proxy's reloads."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, call: Call) -> None:
        try:
            answer = call()
        except Exception as exc:  # every failure counts, whatever raised it
            with self.lock:
                self.failed[why_failed(exc)] += 1
                if len(self.failures) < 5:
                    self.failures.append(f"at {time.time():.3f}: {exc!r}")
            return
        with self.lock:
            tried = [u.strip() for u in answer.upstream.split(",")]
            self.answered[tried[-1]] += 1
            self.retried += len(tried) > 1
            self.resent += answer.resent

    def line(self, kind: str) -> str:
        by_replica = ", ".join(f"{u} {n}" for u, n in sorted(self.answered.items()))
        text = (
            f"   {kind}: {sum(self.answered.values())} answered, {sum(self.failed.values())}"
            f" failed; by replica: {by_replica}; the proxy retried on another replica:"
            f" {self.retried}; the client resent on a new connection: {self.resent}"
        )
        text += "".join(f"\n      {n} x {why}" for why, n in self.failed.most_common(5))
        return text + "".join(f"\n      {failure}" for failure in self.failures)


def why_failed(exc: Exception) -> str:
    """A failure's kind, short enough to count alike ones together: a gRPC error by its status
    code and details (its text would hold a per-call debug string)."""
    if isinstance(exc, grpc.RpcError) and isinstance(exc, grpc.Call):
        return f"gRPC {exc.code().name}: {exc.details()}"
    return f"{type(exc).__name__}: {str(exc)[:120]}"


def callers(args: argparse.Namespace) -> dict[str, Callable[[], Call]]:
    return {"http": lambda: http_caller(args.http), "grpc": lambda: grpc_caller(args.grpc)}


def spread(args: argparse.Namespace) -> int:
    """A few calls of each kind in turn; fails unless ``--expect`` replicas answered each."""
    ok = True
    for kind, make in callers(args).items():
        tally, call = Tally(), make()
        for _ in range(args.requests):
            tally.record(call)
        print(tally.line(kind))
        ok &= not tally.failed and len(tally.answered) >= args.expect
    return 0 if ok else 1


def loop(args: argparse.Namespace) -> int:
    """Clients calling back to back until SIGINT or SIGTERM; fails on any failed call."""
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    tallies = {kind: Tally() for kind in callers(args)}

    def client(kind: str, make: Callable[[], Call]) -> None:
        call = make()
        while not stop.is_set():
            tallies[kind].record(call)

    threads = [
        threading.Thread(target=client, args=(kind, make), daemon=True)
        for kind, make in callers(args).items()
        for _ in range(args.clients)
    ]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    while not stop.wait(0.5):
        pass
    for thread in threads:
        thread.join(TIMEOUT_S + 5)
    print(f"   {time.monotonic() - began:.0f} s, {args.clients} client(s) of each kind")
    for kind, tally in tallies.items():
        print(tally.line(kind))
    failed = any(t.failed or not t.answered for t in tallies.values())
    return 1 if failed else 0


def versions(args: argparse.Namespace) -> int:
    """Poll each replica directly until it answers from ``--version``; print when each first
    did (Unix time), so the caller can set it against when the version was published."""
    pending = {address: httpx.Client(base_url=f"http://{address}") for address in args.replicas}
    files = {"file": ("digit.png", EXAMPLE_PNG, "image/png")}
    deadline = time.monotonic() + args.timeout
    while pending and time.monotonic() < deadline:
        for address, client in list(pending.items()):
            try:
                answer = client.post("/v1/predict", files=files, timeout=TIMEOUT_S).json()
            except (httpx.HTTPError, ValueError):  # restarting, or not JSON: ask again
                continue
            if answer.get("version") == args.version:
                print(f"{address} {time.time():.3f}", flush=True)
                del pending[address]
        time.sleep(0.2)
    for address in pending:
        print(f"{address} never answered from version {args.version}", file=sys.stderr)
    return 1 if pending else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    proxy = argparse.ArgumentParser(add_help=False)
    proxy.add_argument("--http", required=True, help="the proxy's HTTP HOST:PORT")
    proxy.add_argument("--grpc", required=True, help="the proxy's gRPC HOST:PORT")
    spread_mode = modes.add_parser("spread", parents=[proxy], help=spread.__doc__)
    spread_mode.add_argument("--requests", type=int, default=30, help="calls of each kind")
    spread_mode.add_argument("--expect", type=int, default=1, help="replicas, at least")
    loop_mode = modes.add_parser("loop", parents=[proxy], help=loop.__doc__)
    loop_mode.add_argument("--clients", type=int, default=2, help="clients of each kind")
    versions_mode = modes.add_parser("versions", help=versions.__doc__)
    versions_mode.add_argument("--version", required=True, help="the version to wait for")
    versions_mode.add_argument("--timeout", type=float, default=900, help="seconds (900)")
    versions_mode.add_argument("replicas", nargs="+", help="each replica's HTTP HOST:PORT")
    args = parser.parse_args(argv)
    return {"spread": spread, "loop": loop, "versions": versions}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
