"""gRPC's counterpart of a wrk run: ``ModelInfer`` calls kept N in flight for a duration, from
a process of its own, reported in wrk's shape so the figures sit in the same tables.

The client is Triton's ``tritonclient.grpc.aio`` on one channel (one HTTP/2 connection, N
calls multiplexed on it), sending the example digit as raw FP32 input and asking for
``probabilities`` and ``digit``; the digit is checked once before the timed window. A Python
client spends far more CPU per request than wrk does, and on 2 cores it shares them with the
server, so it caps what can be measured: its own CPU per request (all its threads) is
reported beside the figures.

``python -m bench.grpc_load --address HOST:PORT --connections N --duration S`` prints one
``BENCH_RESULT`` line as ``post.lua`` does; ``run`` starts it and reads it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from tritonclient.grpc import InferenceServerException
from tritonclient.grpc.aio import InferenceServerClient, InferInput, InferRequestedOutput

from bench import http_load
from bench.bodies import example_image
from service.api.examples import EXAMPLE_DIGIT

ROOT = Path(__file__).resolve().parents[1]
BODY = "grpc"
"""The name its runs carry in the results, beside wrk's bodies."""
MODEL = "lenet"
TIMEOUT = "StatusCode.DEADLINE_EXCEEDED"
"""A call that took longer than ``http_load.WRK_TIMEOUT_S`` counts as a timeout, as in wrk."""
START_TIMEOUT_S = 60
"""Interpreter start, imports and the checked first call, on top of the duration."""


def run(address: str, connections: int, duration_s: float) -> dict[str, Any]:
    """One run in a fresh process: wrk's figures plus the client's CPU per request and use."""
    argv = [sys.executable, "-m", "bench.grpc_load", "--address", address]
    seconds = http_load.whole_seconds(duration_s)  # as long as a wrk run
    argv += ["--connections", str(connections), "--duration", str(seconds)]
    done = subprocess.run(
        argv,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=seconds + http_load.WRK_TIMEOUT_S + START_TIMEOUT_S,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.grpc_load failed ({done.returncode}): {done.stderr[-3000:]}")
    raw = http_load.parse(done.stdout)
    result = http_load.summarise(raw)
    finished = max(raw["completed"], 1)
    result["client_cpu_ms_per_request"] = round(raw["client_cpu_us"] / finished / 1000, 3)
    result["client_cpu_percent"] = round(100 * raw["client_cpu_us"] / raw["elapsed_us"])
    return result


async def load(address: str, connections: int, duration_s: float) -> dict[str, float]:
    """Check the answer, then ``connections`` callers, each sending its next call as soon as
    the last one ends, until the deadline; calls that end after it are not counted."""
    client = InferenceServerClient(address)
    image = InferInput("image", [1, 28, 28, 1], "FP32")
    image.set_data_from_numpy(example_image())  # raw_input_contents, as Triton's client sends
    outputs = [InferRequestedOutput("probabilities"), InferRequestedOutput("digit")]
    first = await client.infer(MODEL, [image], outputs=outputs)
    digit = int(first.as_numpy("digit")[0])
    if digit != EXAMPLE_DIGIT:
        raise AssertionError(f"{address} answered digit {digit} for the example {EXAMPLE_DIGIT}")

    latencies_ns: list[int] = []
    errors: Counter[str] = Counter()
    completed = 0
    started, cpu_started = time.perf_counter_ns(), time.process_time_ns()
    deadline = started + int(duration_s * 1e9)

    async def caller() -> None:
        nonlocal completed
        while (sent := time.perf_counter_ns()) < deadline:
            try:
                await client.infer(
                    MODEL, [image], outputs=outputs, client_timeout=http_load.WRK_TIMEOUT_S
                )
            except InferenceServerException as exc:
                errors["timeouts" if exc.status() == TIMEOUT else "status_errors"] += 1
                continue
            ended = time.perf_counter_ns()
            completed += 1
            if ended <= deadline:
                latencies_ns.append(ended - sent)

    await asyncio.gather(*(caller() for _ in range(connections)))
    elapsed_ns, cpu_ns = time.perf_counter_ns() - started, time.process_time_ns() - cpu_started
    await client.close()
    latencies_us = np.asarray(latencies_ns or [0]) / 1000
    p50, p90, p99 = np.percentile(latencies_us, [50, 90, 99])
    return {
        "requests": len(latencies_ns),
        "duration_us": (deadline - started) / 1000,
        "status_errors": errors["status_errors"],
        "timeouts": errors["timeouts"],
        "p50_us": round(p50),
        "p90_us": round(p90),
        "p99_us": round(p99),
        "max_us": round(latencies_us.max()),
        "mean_us": round(float(latencies_us.mean()), 1),
        "completed": completed,
        "elapsed_us": elapsed_ns / 1000,
        "client_cpu_us": cpu_ns / 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.grpc_load", description=__doc__)
    parser.add_argument("--address", required=True, help="HOST:PORT of the gRPC server")
    parser.add_argument("--connections", type=int, required=True, help="calls kept in flight")
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    args = parser.parse_args(argv)
    figures = asyncio.run(load(args.address, args.connections, args.duration))
    print(http_load.MARKER + json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
