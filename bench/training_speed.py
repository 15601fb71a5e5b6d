"""Seconds per MNIST epoch for each training backend, through the training job's own code
(``training.train.train``, ``training.numpy_train.train_numpy``) on a subset.

An epoch is what the job does per epoch: one shuffled pass over the training split plus the
validation pass. Both trainers clock each epoch as they run it (``history["epoch_seconds"]``);
the first epoch is dropped (it traces graphs and allocates), and the median of the rest is
scaled from the subset to MNIST's 60,000 training images.

Run as its own process (``python -m bench.training_speed``), one per backend, so the NumPy run
can start with ``OPENBLAS_NUM_THREADS=1`` as the job's docs ask; it prints one JSON document.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import statistics
import sys
from pathlib import Path

import numpy as np

from training.data import Mnist, MnistUnavailable, load_from_dir, subset
from training.numpy_train import numpy_recipe, train_numpy
from training.recipes import RECIPES
from training.train import train

MNIST_TRAIN_IMAGES = 60_000


def load_data(data_dir: Path | None, limit: int) -> Mnist:
    """The first ``limit`` MNIST training images; random digits of the same shape when MNIST
    is not on disk (timing does not depend on the pixels), recorded as such."""
    try:
        if data_dir is None:
            raise MnistUnavailable("no data folder")
        return subset(load_from_dir(data_dir), limit)
    except MnistUnavailable:
        rng = np.random.default_rng(0)
        n_test = max(limit // 6, 1)
        return Mnist(
            x_train=rng.integers(0, 256, (limit, 28, 28), dtype=np.uint8),
            y_train=rng.integers(0, 10, limit, dtype=np.uint8),
            x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            y_test=rng.integers(0, 10, n_test, dtype=np.uint8),
            source="synthetic",
        )


def epoch_seconds(backend: str, recipe_name: str, data: Mnist, epochs: int) -> list[float]:
    """Wall seconds of each epoch of the job's fit loop, as the trainer recorded them."""
    recipe = dataclasses.replace(RECIPES[recipe_name], epochs=epochs)
    with contextlib.redirect_stdout(io.StringIO()):  # keep stdout for the JSON document
        if backend == "numpy":
            result = train_numpy(numpy_recipe(recipe), data, seed=0, verbose=0)
        else:
            result = train(recipe, data, seed=0, verbose=0)
    return result.history["epoch_seconds"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.training_speed", description=__doc__)
    parser.add_argument("--backend", choices=("tensorflow", "numpy"), required=True)
    parser.add_argument("--recipe", default="lecture")
    parser.add_argument("--limit", type=int, default=15_000, help="training images used")
    parser.add_argument("--epochs", type=int, default=4, help="the first one is not counted")
    parser.add_argument(
        "--data-dir", type=Path, default=os.environ.get("MNIST_DIR") or "../shared/data/mnist"
    )
    args = parser.parse_args(argv)

    data = load_data(args.data_dir, args.limit)
    seconds = epoch_seconds(args.backend, args.recipe, data, max(args.epochs, 2))
    per_subset_epoch = statistics.median(seconds[1:])
    json.dump(
        {
            "backend": args.backend,
            "recipe": args.recipe,
            "images": len(data.x_train),
            "data": data.source,
            "epoch_seconds": [round(s, 3) for s in seconds],
            "seconds_per_epoch": round(
                per_subset_epoch * MNIST_TRAIN_IMAGES / len(data.x_train), 2
            ),
            "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
