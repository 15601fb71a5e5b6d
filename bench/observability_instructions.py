"""What metrics and the access log cost a request in machine instructions, which, unlike time,
do not move with the machine's load: the same run gives the same count to a fraction of a
percent, where ``python -m bench.observability_http`` needs six process pairs to get a req/s
ratio to a couple of percent. What instructions cannot show is what they cost in time: code
run once per request, between model calls that push it out of the CPU's caches, likely takes
longer per instruction than the request's average; nor the kernel's work, such as writing the
access log to a file, since callgrind counts the process's own instructions only.

Each variant (quiet, metrics only, access log only, both) runs in a process of its own under
valgrind's callgrind: the app in-process, as ``python -m bench.observability_cost`` drives it
(no sockets, one request after another, the access log written to /dev/null), warmed up,
then counted over ``--requests`` requests only (``callgrind_control`` zeroes the count before
them and dumps it after). Under valgrind a tenth of a second is a request or two, so the
flush (``observability.answered``) is set to hand over every ``--per-flush`` requests
instead (280 by default: a tenth of a second at 2,800 req/s); hash seeds are fixed and
OpenBLAS kept to one thread, so that little but the variant differs between the runs (the
request ids and durations written do).

``python -m bench.observability_instructions`` prints a table, or one JSON document with
``--json``; it needs valgrind (``apt-get install -y valgrind``) and takes a few minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import uvloop

from bench import modeldir
from bench.bodies import JSON
from model.artifacts import ModelRootSettings

VARIANTS = {
    "quiet": (False, False),
    "metrics": (True, False),
    "log": (False, True),
    "both": (True, True),
}
"""Each variant's (metrics, access log) settings."""
WARMUP_FLUSHES = 2
VARIANT_TIMEOUT_S = 1800
CHILD_ENV = {"PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1"}


def counted(dump: Path) -> int:
    """The instructions in a callgrind dump: its ``summary:`` line, the count since it was
    last zeroed over every thread (``totals:`` adds up only the cost lines written)."""
    for line in dump.read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise ValueError(f"{dump} has no summary line")


def summarise(per_request: dict[str, float]) -> list[dict[str, Any]]:
    """Each variant's instructions per request, what it adds to quiet's, and quiet's count
    over its own: the req/s ratio it would have if every instruction took as long."""
    quiet = per_request["quiet"]
    return [
        {
            "variant": variant,
            "instructions_per_request": round(count),
            "added": round(count - quiet),
            "quiet_over_variant": round(quiet / count, 4),
        }
        for variant, count in per_request.items()
    ]


def measure_variant(variant: str, args: argparse.Namespace, root: Path, scratch: Path) -> float:
    """Instructions per request of one variant, in a process of its own under callgrind,
    serving the model root ``root`` as it is."""
    out = scratch / f"{variant}.callgrind"
    argv = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        "-m",
        "bench.observability_instructions",
        "--child",
        variant,
        f"--requests={args.requests}",
        f"--per-flush={args.per_flush}",
        f"--model-root={root}",
    ]
    done = subprocess.run(
        argv,
        env={**os.environ, **CHILD_ENV},
        capture_output=True,
        text=True,
        check=False,
        timeout=VARIANT_TIMEOUT_S,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{variant} under callgrind failed:\n{done.stderr[-3000:]}")
    return counted(out.with_name(out.name + ".1")) / args.requests  # the dump after zeroing


def run_counted(variant: str, requests: int, per_flush: int, model_root: Path) -> None:
    """The child: the app as ``variant`` sets it on ``model_root`` (prepared by the parent,
    so that every variant serves the same files), warmed up, then ``requests`` counted."""
    from asgi_lifespan import LifespanManager

    from bench import observability_cost
    from service.app import create_app
    from service.observability import answered

    answered.FLUSH_SECONDS = float("inf")  # flushed by count alone: see the module's doc
    answered.MAX_WAITING = per_flush
    observability_cost.log_like_the_service()
    metrics, access_log = VARIANTS[variant]

    async def drive() -> None:
        app = create_app(observability_cost.settings(model_root, metrics, access_log))
        async with LifespanManager(app):
            await observability_cost.loaded(app)
            call = observability_cost.caller(app, JSON)
            for _ in range(WARMUP_FLUSHES * per_flush):
                await call()
            callgrind_control("--zero")
            for _ in range(requests):
                await call()
            callgrind_control("--dump")

    uvloop.run(drive())  # the service's event loop


def callgrind_control(action: str) -> None:
    """Ask the callgrind running this process to zero or dump its count; returns once done."""
    subprocess.run(["callgrind_control", action, str(os.getpid())], check=True, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.observability_instructions", description=__doc__
    )
    parser.add_argument("--requests", type=int, default=2240, help="counted, per variant")
    parser.add_argument("--per-flush", type=int, default=280, help="requests a flush hands over")
    parser.add_argument("--model-root", type=Path, default=ModelRootSettings().model_root)
    parser.add_argument("--json", action="store_true", help="one JSON document, not a table")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.per_flush < 2:  # the first request that waits schedules a flush, none is made
        parser.error("--per-flush must be at least 2")
    if args.requests < 1 or args.requests % args.per_flush:
        parser.error("--requests must be a whole number of flushes (--per-flush)")
    if args.child:
        run_counted(args.child, args.requests, args.per_flush, args.model_root)
        return 0
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("needs valgrind: apt-get install -y valgrind", file=sys.stderr)
        return 2
    # Two variants at a time: each valgrind runs its process on one core, the machine has two.
    with tempfile.TemporaryDirectory() as scratch, ThreadPoolExecutor(2) as pool:
        root = modeldir.prepare(args.model_root, Path(scratch)).root
        counts = pool.map(lambda v: measure_variant(v, args, root, Path(scratch)), VARIANTS)
        rows = summarise(dict(zip(VARIANTS, counts, strict=True)))
    if args.json:
        json.dump(rows, sys.stdout)
        return 0
    print(f"instructions per /v1 JSON request, in process, {args.requests} counted each")
    print(f"{'variant':8} {'per request':>12} {'added':>8} {'quiet ÷ it':>10}")
    for row in rows:
        print(
            f"{row['variant']:8} {row['instructions_per_request']:12,} {row['added']:8,}"
            f" {row['quiet_over_variant']:10.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
