"""Where one predict request's time goes, stage by stage, inside one process without HTTP.

The HTTP part says how far we are from the ceiling; this says why. Each request body goes
through the same functions ``POST /v1/predict`` calls, each timed on its own — reading the
body into inputs, decoding them to the network's input, the backend's ``predict`` at batch 1,
the JSON answer — then all four in turn (one after another each runs with colder caches than
alone), and then whole, through the ASGI app (routing,
dependencies, batching, error middleware: everything but the HTTP server), beside the
ceiling app on the same body. "The rest" is the whole app less the four in turn: what
FastAPI and our plumbing add. Medians of ``--rounds`` calls each, after a warm-up, on uvloop
as served; microseconds.

Run as its own process (``python -m bench.stages``); it prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop
from asgi_lifespan import LifespanManager
from starlette.requests import Request
from starlette.types import ASGIApp, Message

from bench.bodies import BODIES, Body
from bench.ceiling_app import app as ceiling_app
from service.api import bodies, responses
from service.app import create_app
from service.inputs.pixel_limits import ImageLimits
from service.inputs.prepare import to_digits
from service.settings import Settings

WARMUP = 200


def receiver(body: Body) -> Callable[[], Awaitable[Message]]:
    async def receive() -> Message:
        return {"type": "http.request", "body": body.data, "more_body": False}

    return receive


async def call_app(app: ASGIApp, body: Body) -> None:
    """One request through ``app``; raises unless it answers 200."""
    status = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(body.asgi_scope(), receiver(body), send)
    if status != [200]:
        raise RuntimeError(f"{body.name} body answered {status}")


async def median_us(step: Callable[[], Awaitable[Any]], rounds: int) -> float:
    for _ in range(WARMUP):
        await step()
    times = []
    for _ in range(rounds):
        started = time.perf_counter_ns()
        await step()
        times.append(time.perf_counter_ns() - started)
    return round(statistics.median(times) / 1000, 1)


async def measure(app: Any, backend_name: str, body: Body, rounds: int) -> dict[str, float]:
    settings = app.state.settings
    limits = ImageLimits.of(settings)
    model = app.state.repository.get(None)
    backend = model.runner(backend_name).backend  # unbatched: the batcher is in "the rest"
    request = Request(body.asgi_scope(), receiver(body))
    inputs = await bodies.read_inputs(request, max_images=1)
    digits = await to_digits(inputs, None, limits=limits)
    probabilities = backend.predict(digits.images)

    async def read() -> Any:
        return await bodies.read_inputs(Request(body.asgi_scope(), receiver(body)), max_images=1)

    async def decode() -> Any:
        return await to_digits(inputs, None, limits=limits)

    async def predict() -> Any:
        return backend.predict(digits.images)

    async def answer() -> Any:
        return responses.predictions(model, backend.name, probabilities, digits.boxes)

    async def in_turn() -> Any:
        read = await bodies.read_inputs(Request(body.asgi_scope(), receiver(body)), max_images=1)
        found = await to_digits(read, None, limits=limits)
        found_probabilities = backend.predict(found.images)
        return responses.predictions(model, backend.name, found_probabilities, found.boxes)

    stages = {
        "read body": await median_us(read, rounds),
        "decode to the network's input": await median_us(decode, rounds),
        "backend predict, batch 1": await median_us(predict, rounds),
        "JSON answer": await median_us(answer, rounds),
    }
    pipeline = await median_us(in_turn, rounds)
    whole = await median_us(lambda: call_app(app, body), rounds)
    return {
        **stages,
        "all four in turn": pipeline,
        "the rest (FastAPI, batching)": round(whole - pipeline, 1),
        "whole app": whole,
        "ceiling app": await median_us(lambda: call_app(ceiling_app, body), rounds),
    }


async def run(model_root: Path, backends: list[str], rounds: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for backend in backends:
        settings = Settings(model_root=model_root, backends=[backend], poll_seconds=0, grpc_port=0)
        app = create_app(settings)
        async with LifespanManager(app, startup_timeout=120):
            while not app.state.repository.ready:
                if app.state.repository.error:
                    raise RuntimeError(app.state.repository.error)
                await asyncio.sleep(0.05)
            results[backend] = {
                name: await measure(app, backend, BODIES[name], rounds) for name in BODIES
            }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__)
    parser.add_argument("--model-root", type=Path, required=True)
    parser.add_argument("--backends", default="onnx")
    parser.add_argument("--rounds", type=int, default=2000, help="timed calls per median")
    args = parser.parse_args(argv)
    results = uvloop.run(run(args.model_root, args.backends.split(","), args.rounds))
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
