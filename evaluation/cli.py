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
    python -m evaluation --seed 9 --count 200 # a spent holdout again (the README's table)
    python -m evaluation --count 5 --conditions paper,phone --url http://localhost:8000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from evaluation import photoset, scoring
from evaluation.report import markdown, targets
from evaluation.server import server
from model.artifacts import ModelRootSettings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--set", choices=sorted(photoset.SEEDS), default="tuning")
    parser.add_argument(
        "--seed",
        type=int,
        help="score the set of this seed instead of --set's: a spent holdout, e.g. 9 for the "
        "README's table (evaluation/photoset.py keeps every seed's history)",
    )
    parser.add_argument("--count", type=int, default=100, help="photos per condition (100)")
    parser.add_argument("--conditions", help="comma-separated; default: every condition")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("MNIST_DIR") or "../shared/data/mnist"),
        help="MNIST's IDX files (the test digits are used)",
    )
    parser.add_argument("--url", help="an API already running; default: start one")
    parser.add_argument(
        "--model-root",
        type=Path,
        default=ModelRootSettings().model_root,
        help="the model the started API serves (default: $LENET_MODEL_ROOT, else artifacts/lenet)",
    )
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
    seed = photoset.SEEDS[args.set] if args.seed is None else args.seed
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
