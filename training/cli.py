"""``python -m training``: fit LeNet on MNIST and publish the next model version, blessed when
it is at least as good as the version being served and the recipe's floor, else a candidate."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from model import artifacts
from training.blessing import FLOORS, FORCED, judge, serving_baseline
from training.data import MnistUnavailable, load_mnist, subset
from training.recipes import RECIPES


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="best")
    parser.add_argument(
        "--backend",
        choices=("tensorflow", "numpy"),
        default="tensorflow",
        help="what fits the network: Keras on TensorFlow, or the from-scratch NumPy library "
        "(no augmentation, weight decay or EMA; run it with OPENBLAS_NUM_THREADS=1 on a small "
        "or busy CPU); both export the same model version",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=os.environ.get("MNIST_DIR") or None,
        help="folder with the four MNIST IDX .gz files (default: $MNIST_DIR, else download)",
    )
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
    parser.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--output",
        type=Path,
        default=artifacts.ModelRootSettings().model_root,
        help="model root; the version is written to OUTPUT/<version>/ "
        "(default: $LENET_MODEL_ROOT, else artifacts/lenet)",
    )
    parser.add_argument("--version", type=int, help="version number (default: the next one)")
    parser.add_argument(
        "--limit",
        type=int,
        help="use only the first N training and N/6 test images (quick runs, smoke tests)",
    )
    parser.add_argument(
        "--floor",
        type=float,
        help="least test accuracy (0-1) the version is blessed with (default: the recipe's, "
        + ", ".join(f"{name} {floor}" for name, floor in FLOORS.items())
        + ")",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="bless the version even when it is worse than the newest blessed one or the floor",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        data = subset(load_mnist(args.data_dir), args.limit)
    except MnistUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from training.export import export_version
    from training.numpy_train import numpy_recipe, train_numpy
    from training.report import confusion_matrix, model_card
    from training.train import train

    recipe = dataclasses.replace(
        RECIPES[args.recipe],
        epochs=args.epochs or RECIPES[args.recipe].epochs,
        batch_size=args.batch_size or RECIPES[args.recipe].batch_size,
    )
    if args.backend == "numpy":
        recipe = numpy_recipe(recipe)
    version = args.version or artifacts.next_version(args.output)
    print(
        f"training LeNet v{version} with {args.backend}, recipe {recipe.name}: "
        f"{recipe.description}",
        flush=True,
    )
    fit = train_numpy if args.backend == "numpy" else train
    result = fit(recipe, data, seed=args.seed)
    card = model_card(
        version=version,
        backend=args.backend,
        recipe=recipe.to_dict(),
        epochs=len(result.history["loss"]),
        seconds=result.seconds,
        test_loss=result.test_loss,
        test_accuracy=result.test_accuracy,
        confusion=confusion_matrix(data.y_test, result.test_predictions),
        data_source=data.source,
        data_sha256=data.sha256,
        train_samples=len(data.x_train),
        test_samples=len(data.x_test),
        seed=args.seed,
        parameters=result.model.count_params(),
    )
    floor = FLOORS[args.recipe] if args.floor is None else args.floor
    blessing = judge(card, serving_baseline(args.output), floor, force=args.force)
    path = export_version(
        result.model, args.output, version, history=result.history, card=card, blessing=blessing
    )
    print(f"test accuracy {result.test_accuracy:.4f}, loss {result.test_loss:.4f}; wrote {path}")
    if blessing.blessed:
        forced = " by --force" if args.force and blessing.by == FORCED else ""
        print(f"v{version} is blessed{forced}: {blessing.reason}; services on the root serve it")
    else:
        print(
            f"v{version} is a candidate, not blessed: {blessing.reason}; try it with "
            f"?version={version}, bless it with: python -m training.bless {version}"
        )
    return 0
