"""What metrics and the access log cost a request, in-process: CPU µs per request with both
on (as shipped) and both off (``LENET_METRICS=false``, ``LENET_ACCESS_LOG=false``).

``make bench`` reports the same comparison as req/s over sockets (``ours-onnx`` ÷
``ours-onnx-quiet``), where the few microseconds at stake drown in wrk's and the kernel's
noise on a small shared machine. Here two apps, one of each, load the same model in one
process and are driven through ASGI directly (no sockets, no HTTP parser) with a prepared
request. Rounds alternate between them, every other round in reverse order, and each round
takes the process's CPU time (``time.process_time``: every thread, so the batcher's and ONNX
Runtime's too) over a run of requests, so that a busy neighbour on the machine slows both
sides alike; the pair is built afresh ``--builds`` times, since two builds of the same app
differ by a percent or two (where their memory lies) even when nothing else does. Without
uvicorn's own work in each request, the ratio here is lower than ``make bench``'s.
``concurrency`` requests are kept in flight (1: one after another, as one connection does;
more share model calls as concurrent connections do).

The access log is written as ``python -m service`` configures it, at INFO, to ``/dev/null``.
``--multiprocess`` measures prometheus-client's multiprocess mode (several workers).

Run as its own process: ``python -m bench.observability_cost``; it prints a table, or one
JSON document with ``--json``. The ratio on ÷ off is req/s with both on over req/s with both
off (off µs ÷ on µs), the median of the rounds' own ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import logging.config
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvloop
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from starlette.types import ASGIApp, Message

from bench import modeldir
from bench.bodies import JSON, V2_BODIES, Body
from model.artifacts import ModelRootSettings

if TYPE_CHECKING:  # imported where used: --multiprocess must come before prometheus-client
    from service.settings import Settings

BODIES = {"v1-json": JSON, "v2-binary": V2_BODIES["v2-binary"]}
WARMUP = 500


def caller(app: ASGIApp, body: Body) -> Callable[[], Awaitable[None]]:
    """One request through ``app``, each with a fresh scope as a server makes; raises unless
    it answers 200."""
    message: Message = {"type": "http.request", "body": body.data, "more_body": False}

    async def receive() -> Message:
        return message

    async def call() -> None:
        status = 0

        async def send(sent: Message) -> None:
            nonlocal status
            if sent["type"] == "http.response.start":
                status = sent["status"]

        await app(body.asgi_scope(), receive, send)
        if status != 200:
            raise RuntimeError(f"{body.path} answered {status}")

    return call


async def cpu_us_per_request(
    call: Callable[[], Awaitable[None]], requests: int, concurrency: int
) -> float:
    """Process CPU µs per request over ``requests``, ``concurrency`` at a time."""

    async def one_connection() -> None:
        for _ in range(requests // concurrency):
            await call()

    started = time.process_time()
    await asyncio.gather(*(one_connection() for _ in range(concurrency)))
    return (time.process_time() - started) * 1e6 / (requests // concurrency * concurrency)


def log_like_the_service() -> None:
    """The access log configured as ``python -m service`` does, written to /dev/null."""
    from service.__main__ import logging_config

    logging.config.dictConfig(logging_config("INFO"))
    handler = logging.getLogger("service.access").handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(open(os.devnull, "w"))  # noqa: SIM115  # open for the process's life


def settings(root: Path, metrics: bool, access_log: bool) -> Settings:
    """The app as ``make bench`` serves it: ONNX, no gRPC, no polling; with metrics and the
    access log as asked (both: as shipped; neither: quiet)."""
    from service.settings import Settings

    return Settings(
        model_root=root,
        backends=["onnx"],
        poll_seconds=0,
        grpc_port=0,
        metrics=metrics,
        access_log=access_log,
    )


async def loaded(app: FastAPI) -> None:
    """Once ``app``'s model repository has loaded its versions (after its lifespan began)."""
    while not app.state.repository.ready:
        if app.state.repository.error:
            raise RuntimeError(app.state.repository.error)
        await asyncio.sleep(0.05)


async def measure(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """Each cell's rounds over ``args.builds`` pairs of apps, each pair built afresh: two
    builds of the same app differ by a percent or two for their memory's sake alone."""
    from service.app import create_app

    cells = [
        (body, int(concurrency))
        for body in args.bodies.split(",")
        for concurrency in args.concurrency.split(",")
    ]
    rounds: dict[tuple[str, int], dict[str, list[float]]] = {
        cell: {"on": [], "off": []} for cell in cells
    }
    for build in range(args.builds):
        sides = ("on", "off") if build % 2 == 0 else ("off", "on")  # the order they are built
        apps = {
            side: create_app(settings(root, metrics=side == "on", access_log=side == "on"))
            for side in sides
        }
        async with LifespanManager(apps["on"]), LifespanManager(apps["off"]):
            for app in apps.values():
                await loaded(app)
            for body, concurrency in cells:
                calls = {side: caller(app, BODIES[body]) for side, app in apps.items()}
                for call in calls.values():
                    await cpu_us_per_request(call, WARMUP, concurrency)
                for number in range(args.rounds):
                    for side in sides if number % 2 == 0 else sides[::-1]:
                        rounds[body, concurrency][side].append(
                            await cpu_us_per_request(calls[side], args.requests, concurrency)
                        )
    results: dict[str, Any] = {}
    for (body, concurrency), times in rounds.items():
        ratios = [off / on for on, off in zip(times["on"], times["off"], strict=True)]
        results[f"{body} x{concurrency}"] = {
            "on_us": round(statistics.median(times["on"]), 1),
            "off_us": round(statistics.median(times["off"]), 1),
            "on_over_off": round(statistics.median(ratios), 3),
            "ratio_quartiles": [round(q, 3) for q in statistics.quantiles(ratios, n=4)[::2]],
        }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.observability_cost", description=__doc__)
    parser.add_argument("--builds", type=int, default=4, help="pairs of apps built in turn")
    parser.add_argument("--rounds", type=int, default=10, help="timed runs per side and build")
    parser.add_argument("--requests", type=int, default=500, help="requests per timed run")
    parser.add_argument("--concurrency", default="1,8", help="requests in flight, comma-separated")
    parser.add_argument("--bodies", default=",".join(BODIES), help=",".join(BODIES))
    parser.add_argument("--multiprocess", action="store_true", help="prometheus-client's files")
    parser.add_argument("--model-root", type=Path, default=ModelRootSettings().model_root)
    parser.add_argument("--json", action="store_true", help="one JSON document, not a table")
    args = parser.parse_args(argv)
    if args.builds * args.rounds < 2:
        parser.error("--builds × --rounds must be at least 2: the ratio's quartiles need two")
    with tempfile.TemporaryDirectory() as scratch:
        if args.multiprocess:  # read by prometheus-client at import: before the service's
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = scratch
        log_like_the_service()
        model = modeldir.prepare(args.model_root, Path(scratch))
        load = os.getloadavg()
        results = uvloop.run(measure(args, model.root))
    report = {"load_before": load, "load_after": os.getloadavg(), "results": results}
    if args.json:
        json.dump(report, sys.stdout)
        return 0
    print(f"load average {load[0]:.2f} before, {report['load_after'][0]:.2f} after")
    print(f"{'body x in flight':18} {'on µs':>8} {'off µs':>8} {'on÷off':>7}  quartiles")
    for name, row in results.items():
        low, high = row["ratio_quartiles"]
        print(
            f"{name:18} {row['on_us']:8.1f} {row['off_us']:8.1f} {row['on_over_off']:7.3f}"
            f"  {low:.3f}-{high:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
