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

``--python`` counts Python's instructions instead, the bytecodes run on the event loop's
thread (``sys.settrace``'s opcode events: one request at a time runs all of its Python
there, the batcher calling the model inline for a lone request), and names the functions
that add the most: no valgrind, half a minute. Neither count is time.
Most of a request's machine instructions are the model's and the parsers', vectorised C at
several a cycle, while the code around them runs far fewer a cycle; bytecodes weigh what a
C call does inside as nothing (a dict of four headers takes fewer bytecodes than a loop over
them, and more time), and a bytecode in a warm loop as much as one run once per request
between model calls. Where the two counts and a timing agree, a change is real.

``python -m bench.observability_instructions`` prints a table, or one JSON document with
``--json``; without ``--python`` it needs valgrind (``apt-get install -y valgrind``) and
takes a few minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import CodeType, FrameType
from typing import Any, Protocol

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
TOP_FUNCTIONS = 12
"""``--python``: the functions listed, those that add the most bytecodes with both on."""


def counted(dump: Path) -> int:
    """The instructions in a callgrind dump: its ``summary:`` line, the count since it was
    last zeroed over every thread (``totals:`` adds up only the cost lines written)."""
    for line in dump.read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise ValueError(f"{dump} has no summary line")


def summarise(per_request: dict[str, float]) -> list[dict[str, Any]]:
    """Each variant's count per request (machine instructions or bytecodes), what it adds
    to quiet's, and quiet's count over its own: the req/s ratio it would have if each of
    them took as long."""
    quiet = per_request["quiet"]
    return [
        {
            "variant": variant,
            "per_request": round(count),
            "added": round(count - quiet),
            "quiet_over_variant": round(quiet / count, 4),
        }
        for variant, count in per_request.items()
    ]


def measure_variant(
    variant: str, args: argparse.Namespace, root: Path, scratch: Path
) -> tuple[float, dict[str, float]]:
    """Instructions per request of one variant, in a process of its own (under callgrind
    unless ``args.python``), serving the model root ``root`` as it is; with ``args.python``,
    bytecodes per request by function too."""
    out = scratch / f"{variant}.{'bytecodes.json' if args.python else 'callgrind'}"
    child = [
        sys.executable,
        "-m",
        "bench.observability_instructions",
        "--child",
        variant,
        f"--requests={args.requests}",
        f"--per-flush={args.per_flush}",
        f"--model-root={root}",
    ]
    if args.python:
        argv = [*child, "--python", f"--bytecodes-to={out}"]
    else:
        argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *child]
    done = subprocess.run(
        argv,
        env={**os.environ, **CHILD_ENV},
        capture_output=True,
        text=True,
        check=False,
        timeout=VARIANT_TIMEOUT_S,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{variant} ({argv[0]}) failed:\n{done.stderr[-3000:]}")
    if args.python:
        by_function = json.loads(out.read_text())
        per_function = {name: count / args.requests for name, count in by_function.items()}
        return sum(per_function.values()), per_function
    return counted(out.with_name(out.name + ".1")) / args.requests, {}  # the dump after zeroing


class Window(Protocol):
    """What the child counts over the counted requests."""

    def start(self) -> None: ...
    def stop(self) -> None: ...


class Callgrind:
    """Machine instructions: callgrind, running this process, zeroes its count at the start
    and dumps it at the stop."""

    def start(self) -> None:
        callgrind_control("--zero")

    def stop(self) -> None:
        callgrind_control("--dump")


class Bytecodes:
    """Python's bytecodes run on this thread between start and stop, by function, written
    to ``to`` as JSON at the stop; whatever traced this thread before is put back then."""

    def __init__(self, to: Path) -> None:
        self._to = to
        # By the code object's identity: code objects compare equal by their contents, so
        # two functions alike in two files would share a count.
        self._counts: dict[int, tuple[CodeType, list[int]]] = {}
        self._before: Any = None

    def start(self) -> None:
        self._before = sys.gettrace()
        sys.settrace(self._called)

    def stop(self) -> None:
        sys.settrace(self._before)
        roots = search_roots()
        by_function: Counter[str] = Counter()
        for code, (count,) in self._counts.values():
            by_function[function_name(code, roots)] += count
        self._to.write_text(json.dumps(by_function))

    def _called(self, frame: FrameType, event: str, arg: object) -> Any:
        """A frame begins (or a coroutine's resumes): count its bytecodes, not its lines."""
        frame.f_trace_opcodes, frame.f_trace_lines = True, False
        code = frame.f_code
        counted = self._counts.get(id(code))
        if counted is None:
            counted = self._counts[id(code)] = (code, [0])  # holds the code: its id stays
        count = counted[1]

        def each(frame: FrameType, event: str, arg: object) -> Any:
            if event == "opcode":
                count[0] += 1
            return each

        return each


def search_roots() -> list[str]:
    """Where modules are found (``sys.path`` and the working directory), longest first."""
    roots = {os.path.abspath(entry) for entry in (*sys.path, os.getcwd())}
    return sorted(roots, key=len, reverse=True)


def function_name(code: CodeType, roots: list[str]) -> str:
    """``package/module.py:Class.function``: the file under the longest of ``roots`` that
    holds it, as it would be imported."""
    path = code.co_filename
    for root in roots:
        folder = os.path.join(root, "")  # with one separator at its end, "/" included
        if path.startswith(folder):
            return f"{path[len(folder) :]}:{code.co_qualname}"
    return f"{path}:{code.co_qualname}"


def run_counted(
    variant: str, requests: int, per_flush: int, model_root: Path, window: Window
) -> None:
    """The child: the app as ``variant`` sets it on ``model_root`` (prepared by the parent,
    so that every variant serves the same files), warmed up, then ``requests`` counted in
    ``window``."""
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
            window.start()
            try:
                for _ in range(requests):
                    await call()
            finally:
                window.stop()

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
    parser.add_argument(
        "--python", action="store_true", help="Python's bytecodes, not machine instructions"
    )
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--bytecodes-to", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.per_flush < 2:  # the first request that waits schedules a flush, none is made
        parser.error("--per-flush must be at least 2")
    if args.requests < 1 or args.requests % args.per_flush:
        parser.error("--requests must be a whole number of flushes (--per-flush)")
    counts_bytecodes = args.child is not None and args.python  # the child of a --python run
    if counts_bytecodes != (args.bytecodes_to is not None):
        parser.error("--bytecodes-to goes with --child and --python, and they with it")
    if args.child:
        window = Bytecodes(args.bytecodes_to) if args.bytecodes_to else Callgrind()
        run_counted(args.child, args.requests, args.per_flush, args.model_root, window)
        return 0
    if args.python:
        return report(args, "Python bytecodes")
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("needs valgrind: apt-get install -y valgrind", file=sys.stderr)
        return 2
    return report(args, "instructions")


def report(args: argparse.Namespace, unit: str) -> int:
    """Count every variant, two at a time (one process each on the machine's two cores),
    and print the table or the JSON document."""
    with tempfile.TemporaryDirectory() as scratch, ThreadPoolExecutor(2) as pool:
        root = modeldir.prepare(args.model_root, Path(scratch)).root
        measured = dict(
            zip(
                VARIANTS,
                pool.map(lambda v: measure_variant(v, args, root, Path(scratch)), VARIANTS),
                strict=True,
            )
        )
    rows = summarise({variant: total for variant, (total, _) in measured.items()})
    added = most_added(measured["both"][1], measured["quiet"][1]) if args.python else []
    if args.json:
        json.dump({"unit": unit, "variants": rows, "both_adds_most": added}, sys.stdout)
        return 0
    print(f"{unit} per /v1 JSON request, in process, {args.requests} counted each")
    print(f"{'variant':8} {'per request':>12} {'added':>8} {'quiet ÷ it':>10}")
    for row in rows:
        print(
            f"{row['variant']:8} {row['per_request']:12,} {row['added']:8,}"
            f" {row['quiet_over_variant']:10.4f}"
        )
    if added:
        print(f"\nwhere both add the most, {unit} per request:")
        for row in added:
            print(f"{row['added']:8.1f}  {row['function']}")
    return 0


def most_added(on: dict[str, float], quiet: dict[str, float]) -> list[dict[str, Any]]:
    """The ``TOP_FUNCTIONS`` functions whose count per request ``on`` adds most to
    ``quiet``'s."""
    added = {name: count - quiet.get(name, 0.0) for name, count in on.items()}
    top = sorted(added.items(), key=lambda item: item[1], reverse=True)[:TOP_FUNCTIONS]
    return [{"function": name, "added": round(count, 1)} for name, count in top]


if __name__ == "__main__":
    sys.exit(main())
