"""``python -m evaluation``: photos of MNIST test digits, read through the real HTTP API.

Makes the evaluation set (``evaluation.photoset``: every condition, ``--count`` photos
each, from MNIST's test digits only), starts ``python -m service`` on the bundled model (or
uses ``--url``), sends every photo as a client would and prints, per condition: how many
were read right, how many boxes found the digit, and how the same digits fare sent as
MNIST's own 28x28 arrays (the network's mistakes, not the photos'). Then whether the
targets hold: at least 99 % of the single-digit photos right, at least 97 % in each
condition, ``no_digit`` for every photo without one.

    python -m evaluation                      # the tuning set, 100 photos per condition
    python -m evaluation --set holdout        # the set never looked at while tuning
    python -m evaluation --count 5 --conditions paper,phone --url http://localhost:8000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from evaluation import photoset, scoring
from evaluation.conditions import NUMBERS, SINGLE

OVERALL_TARGET = 0.99
CONDITION_TARGET = 0.97


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--set", choices=sorted(photoset.SEEDS), default="tuning")
    parser.add_argument("--count", type=int, default=100, help="photos per condition (100)")
    parser.add_argument("--conditions", help="comma-separated; default: every condition")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("MNIST_DIR") or "../shared/data/mnist"),
        help="MNIST's IDX files (the test digits are used)",
    )
    parser.add_argument("--url", help="an API already running; default: start one")
    parser.add_argument("--model-root", type=Path, default=Path("artifacts/lenet"))
    parser.add_argument("--backend", default="onnx", help="the server's backend (onnx)")
    parser.add_argument(
        "--baseline",
        help="serve the code of this git revision instead (e.g. e4ad4a1, before the photo "
        "pipeline), on the same model: what the photos gained",
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="processes making photos"
    )
    parser.add_argument("--out", type=Path, help="write the table and misreads as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    conditions = args.conditions.split(",") if args.conditions else photoset.all_conditions()
    unknown = set(conditions) - set(photoset.all_conditions())
    if unknown:
        sys.exit(f"unknown conditions: {', '.join(sorted(unknown))}")
    digits = photoset.load_digits(args.data_dir)
    seed = photoset.SEEDS[args.set]
    started = time.perf_counter()
    with ExitStack() as stack:
        url = args.url or stack.enter_context(
            server(args.model_root, args.backend, baseline=args.baseline)
        )
        client = stack.enter_context(httpx.Client(base_url=url, timeout=60))
        tallies = evaluate(client, seed, conditions, args.count, digits, args.jobs)
    rows = scoring.table(tallies)
    print(markdown(rows, args, time.perf_counter() - started))
    verdicts = targets(rows)
    for line in verdicts:
        print(line)
    if args.out:
        misread = {name: tally.wrong for name, tally in tallies.items() if tally.wrong}
        args.out.write_text(json.dumps({"rows": rows, "misread": misread}, indent=1) + "\n")
    return 1 if any(line.startswith("FAIL") for line in verdicts) else 0


def evaluate(
    client: httpx.Client,
    seed: int,
    conditions: list[str],
    count: int,
    digits: photoset.Digits,
    jobs: int,
    query: str = "",
) -> dict[str, scoring.Tally]:
    """Every photo of the set through ``client``; photos are made by ``jobs`` processes
    while the server reads the ones already made."""
    work = [(seed, c, i) for c in conditions for i in range(count)]
    tallies = {c: scoring.Tally() for c in conditions}
    with ProcessPoolExecutor(jobs, initializer=_share, initargs=(digits,)) as pool:
        made = pool.map(_make, work, chunksize=4)
        for (_, condition, index), (photo, sources) in zip(work, made, strict=True):
            tally = scoring.score(client, photo, index, digits.images[sources], query)
            tallies[condition].add(tally)
            tallies[condition].wrong += tally.wrong
    return tallies


_digits: photoset.Digits | None = None


def _share(digits: photoset.Digits) -> None:
    global _digits
    _digits = digits


def _make(job: tuple[int, str, int]) -> tuple[Any, np.ndarray]:
    assert _digits is not None
    return photoset.photo(*job, _digits), photoset.sources(*job, _digits)


@contextmanager
def server(model_root: Path, backend: str, baseline: str | None = None) -> Iterator[str]:
    """``python -m service`` as shipped, started by the bench's own launcher (or the code
    of ``baseline``, exported from git); its URL."""
    from bench import baseline as previous
    from bench import servers

    model_root = model_root.resolve()  # the same model, wherever the server starts
    with ExitStack() as stack:
        if baseline:
            tree = stack.enter_context(previous.exported(baseline))
            spec = servers.previous(backend, model_root, tree)
        else:
            spec = servers.ours(backend, model_root)
        started = stack.enter_context(servers.running([spec]))
        yield started[0].url


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace, seconds: float) -> str:
    """The table as the README shows it."""

    def percent(value: float | None) -> str:
        return "" if value is None else f"{100 * value:.1f} %"

    command = f"python -m evaluation --set {args.set} --count {args.count}"
    if args.conditions:
        command += f" --conditions {args.conditions}"
    if args.baseline:
        command += f" --baseline {args.baseline}"
    lines = [
        f"`{command}` ({seconds:.0f} s)",
        "",
        "| condition | photos | read right | boxes | digits right | same digits as MNIST arrays |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['condition']} | {row['photos']} | {percent(row['accuracy'])} | "
            f"{percent(row['boxes'])} | {percent(row['digit_accuracy'])} | "
            f"{percent(row['mnist_accuracy'])} |"
        )
    return "\n".join(lines)


def targets(rows: list[dict[str, Any]]) -> list[str]:
    """PASS/FAIL lines for the issue's targets, on the conditions that were run."""
    by_name = {row["condition"]: row for row in rows}
    verdicts = []
    overall = by_name.get("all single digits")
    if overall:
        verdicts.append(
            _verdict(
                overall["accuracy"] >= OVERALL_TARGET,
                f"single digits overall {100 * overall['accuracy']:.2f} % (target >= 99 %)",
            )
        )
        worst = min((by_name[c] for c in SINGLE if c in by_name), key=lambda r: r["accuracy"])
        verdicts.append(
            _verdict(
                worst["accuracy"] >= CONDITION_TARGET,
                f"worst condition {worst['condition']} {100 * worst['accuracy']:.1f} % "
                "(target >= 97 % each)",
            )
        )
    if overall:
        missed = sum(
            row["no_digit_on_digits"] for row in rows if not row["condition"].startswith("all")
        )
        verdicts.append(
            _verdict(missed == 0, f"no_digit on {missed} photos of a digit (target: none)")
        )
    blank = by_name.get("all without a digit")
    if blank:
        verdicts.append(
            _verdict(
                blank["accuracy"] == 1.0,
                f"no_digit on {100 * blank['accuracy']:.1f} % of the photos without one "
                "(target 100 %)",
            )
        )
    for name in NUMBERS:
        if name in by_name:
            verdicts.append(
                f"INFO {name}: {100 * by_name[name]['accuracy']:.1f} % of numbers, "
                f"{100 * by_name[name]['digit_accuracy']:.1f} % of digits read right"
            )
    return verdicts


def _verdict(ok: bool, text: str) -> str:
    return f"{'PASS' if ok else 'FAIL'} {text}"


if __name__ == "__main__":
    sys.exit(main())
