"""Two servers that differ in one way, compared over several fresh process pairs.

Two processes of the same code differ in req/s by several percent on a small shared machine
(where each one's memory lies, what the caches and the scheduler make of it): more than some
differences at stake, such as metrics' 3 %. So a comparison here starts ``pairs`` pairs one
after another, and loads each cell by cell in rounds (``bench.serving.load_rounds``, every
other one reversed), as ``make bench`` loads its cells; each pair starts, and loads first,
the server the pair before it loaded second. A cell's ratio is the first server's req/s ÷
the second's: all its requests over all its seconds, every pair together; each pair's own
ratio is kept beside it, so the report shows how far processes alone moved it, and the
server CPU per request of both sides.

A command built on this (``bench.observability_http``, ``bench.gc_threshold``) names its two
servers and takes the options ``parser`` gives it; ``run`` does the rest, and prints a table,
or one JSON document with ``--json``. It needs wrk, as ``make bench`` does.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import modeldir, rounds, servers, serving, targets
from bench.bodies import JSON, V2_BODIES
from model.artifacts import ModelRootSettings

BODIES = (JSON.name, *V2_BODIES)

Pair = Callable[[Path], list[servers.ServerSpec]]
"""The two servers compared, first ÷ second, serving the model root it is given."""


def measure(
    pair: Pair,
    model_root: Path,
    *,
    pairs: int,
    connections: list[int],
    bodies: list[str],
    duration_s: float,
    rounds_each: int,
    warmup_s: float,
    progress: Any = print,
) -> list[dict[str, Any]]:
    """Every round's run of every pair: each cell (connections, body) loaded ``rounds_each``
    times on both servers of a pair, ``duration_s`` in all per server and pair."""
    runs: list[dict[str, Any]] = []
    for number in range(pairs):
        specs = rounds.in_order(pair(model_root), number)  # who starts first alternates
        with servers.running(specs) as started:
            taking = dict.fromkeys(bodies, started)
            loaded = serving.load_rounds(
                taking, connections, duration_s, warmup_s, rounds_each, progress
            )
        runs += [run | {"pair": number} for run in loaded]
    return runs


def summarise(runs: list[dict[str, Any]], first: str, second: str) -> list[dict[str, Any]]:
    """One row per (body, connections): server ``first``'s req/s over ``second``'s, all
    pairs together and each pair's own, and both sides' server CPU per request."""
    cells = list(dict.fromkeys((run["body"], run["connections"]) for run in runs))
    summary = []
    for body, count in cells:
        cell = [run for run in runs if (run["body"], run["connections"]) == (body, count)]
        side = {
            name: rounds.merge([r for r in cell if r["server"] == name])[0]
            for name in (first, second)
        }
        per_pair = []
        for number in sorted({run["pair"] for run in cell}):
            own = {
                name: rounds.merge(
                    [r for r in cell if r["server"] == name and r["pair"] == number]
                )[0]
                for name in (first, second)
            }
            per_pair.append(round(targets.ratio(own[first]["rps"], own[second]["rps"]), 3))
        summary.append(
            {
                "body": body,
                "connections": count,
                "servers": [first, second],
                "rps": [side[first]["rps"], side[second]["rps"]],
                "ratio": round(targets.ratio(side[first]["rps"], side[second]["rps"]), 3),
                "pair_ratios": per_pair,
                "errors": [side[first]["errors"], side[second]["errors"]],
                "server_cpu_ms_per_request": [
                    side[first]["server_cpu_ms_per_request"],
                    side[second]["server_cpu_ms_per_request"],
                ],
            }
        )
    return summary


def parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The options every comparison takes; a command adds its own."""
    options = argparse.ArgumentParser(prog=prog, description=description)
    options.add_argument("--pairs", type=int, default=6, help="fresh process pairs, in turn")
    options.add_argument("--rounds", type=int, default=4, help="rounds per cell and pair")
    options.add_argument(
        "--duration", type=float, default=12.0, help="seconds per cell, server and pair"
    )
    options.add_argument("--warmup", type=float, default=2.0, help="seconds per server and body")
    options.add_argument("--connections", default="1,8,64", help="comma-separated")
    options.add_argument("--bodies", default=JSON.name, help="any of " + ",".join(BODIES))
    options.add_argument("--model-root", type=Path, default=ModelRootSettings().model_root)
    options.add_argument("--json", action="store_true", help="one JSON document, not a table")
    return options


def run(options: argparse.ArgumentParser, args: argparse.Namespace, pair: Pair) -> int:
    """Compare ``pair``'s two servers as ``args`` (from ``options``) ask, and report."""
    bodies = args.bodies.split(",")
    if set(bodies) - set(BODIES):
        options.error(f"bodies are any of {','.join(BODIES)}")
    try:
        connections = [int(count) for count in args.connections.split(",")]
    except ValueError:
        options.error("--connections: comma-separated whole numbers")
    if args.pairs < 1 or args.rounds < 1:
        options.error("--pairs and --rounds must be at least 1")
    progress = (lambda _: None) if args.json else print
    with tempfile.TemporaryDirectory(prefix="bench-model-") as scratch:
        model = modeldir.prepare(args.model_root, Path(scratch))
        runs = measure(
            pair,
            model.root,
            pairs=args.pairs,
            connections=connections,
            bodies=bodies,
            duration_s=args.duration,
            rounds_each=args.rounds,
            warmup_s=args.warmup,
            progress=progress,
        )
        first, second = (spec.name for spec in pair(model.root))
    summary = summarise(runs, first, second)
    if args.json:
        json.dump({"summary": summary, "runs": runs}, sys.stdout)
        return 0
    print(f"{first} ÷ {second}, {args.pairs} pairs × {args.rounds} rounds")
    print(
        f"{'body':10} {'conns':>5} {'ratio':>6}  {'CPU ms/request':>15}  errors  each pair's ratio"
    )
    for row in summary:
        cpu = "/".join(f"{ms:.3f}" for ms in row["server_cpu_ms_per_request"])
        each = ", ".join(f"{r:.2f}" for r in row["pair_ratios"])
        errors = "/".join(str(count) for count in row["errors"])
        print(
            f"{row['body']:10} {row['connections']:5} {row['ratio']:6.3f}  {cpu:>15}"
            f"  {errors:>6}  {each}"
        )
    return 0
