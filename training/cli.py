"""``python -m training``: fit LeNet on MNIST and publish the next model version, blessed when
it is at least as good as the version being served and the recipe's floor, else a candidate."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from model import artifacts
from training.blessing import FLOORS, FORCED, judge, serving_baseline
from training.data import MIN_TRAINING_IMAGES, MnistUnavailable, load_mnist, subset
from training.recipes import RECIPES

MAX_SEED = 2**32 - 1
"""The largest seed NumPy takes; ``keras.utils.set_random_seed`` seeds NumPy too."""


class RootUnusable(Exception):
    """The model root cannot take the version: found before training, so no run is wasted."""


def whole_number(least: int, most: int | None = None) -> Callable[[str], int]:
    """An argparse type for a whole number from ``least`` (to ``most``): a 0 or a negative
    stops at the command line instead of being ignored or crashing the run."""

    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if number < least or (most is not None and number > most):
            bounds = f"at least {least}" if most is None else f"from {least} to {most}"
            raise argparse.ArgumentTypeError(f"{text} is not {bounds}")
        return number

    return parse


def fraction(text: str) -> float:
    """An argparse type for a number from 0 to 1, as accuracies are: 99 % is 0.99."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"{text} is not a fraction from 0 to 1 (99 % is 0.99)")
    return value


def version_number(text: str) -> int:
    """An argparse type for a version as ``model.artifacts`` names its folders, so that the
    folder written is one that services list."""
    version = artifacts.version_of(text)
    if version is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a version: a whole number from 0, in at most "
            f"{artifacts.MAX_VERSION_DIGITS} digits and without leading zeros"
        )
    return version


def _environment(name: str) -> str | None:
    """A flag's default from the environment, as compose passes it; unset, empty or 0 is
    none (0 is what compose files written before these flags were checked pass)."""
    value = os.environ.get(name, "").strip()
    return None if value in ("", "0") else value


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
    parser.add_argument(
        "--epochs",
        type=whole_number(1),
        default=_environment("TRAIN_EPOCHS"),
        help="override the recipe's epochs (default: $TRAIN_EPOCHS, else the recipe's)",
    )
    parser.add_argument(
        "--batch-size", type=whole_number(1), help="override the recipe's batch size"
    )
    parser.add_argument("--seed", type=whole_number(0, MAX_SEED), default=0)
    parser.add_argument(
        "--output",
        type=Path,
        default=artifacts.ModelRootSettings().model_root,
        help="model root; the version is written to OUTPUT/<version>/ "
        "(default: $LENET_MODEL_ROOT, else artifacts/lenet)",
    )
    parser.add_argument(
        "--version",
        type=version_number,
        help="version number, one not yet under OUTPUT (default: the next one)",
    )
    parser.add_argument(
        "--limit",
        type=whole_number(MIN_TRAINING_IMAGES),
        default=_environment("TRAIN_LIMIT"),
        help="use only the first N training and N/6 test images (quick runs, smoke tests); "
        f"N at least {MIN_TRAINING_IMAGES}: one image to fit, one to validate on "
        "(default: $TRAIN_LIMIT, else all)",
    )
    parser.add_argument(
        "--floor",
        type=fraction,
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
    """Exit 0 when the version is published, blessed or not. Exit 2 when nothing was run:
    the data or the model root is unusable, as found before training, so the same command
    fails the same way until that is fixed (argparse's own errors exit 2 too). Exit 1 when
    training ran but publishing failed (another job took the version, the disk filled up):
    the trained model is lost, and the same command may well succeed when run again."""
    args = parse_args(argv)
    try:
        data = subset(load_mnist(args.data_dir), args.limit)
        version = choose_version(args.output, args.version)
    except (MnistUnavailable, RootUnusable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from training.export import export_version
    from training.numpy_train import numpy_recipe, train_numpy
    from training.report import confusion_matrix, model_card
    from training.train import train

    base = RECIPES[args.recipe]
    recipe = dataclasses.replace(
        base,
        epochs=base.epochs if args.epochs is None else args.epochs,
        batch_size=base.batch_size if args.batch_size is None else args.batch_size,
    )
    if args.backend == "numpy":
        recipe = numpy_recipe(recipe)
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
        data_limit=args.limit,
        train_samples=len(data.x_train),
        test_samples=len(data.x_test),
        seed=args.seed,
        parameters=result.model.count_params(),
    )
    floor = FLOORS[args.recipe] if args.floor is None else args.floor
    try:
        # Judged against what is blessed at publishing, not at the start: a bless or a
        # rollback meanwhile waits for the version to appear, then sees it.
        with artifacts.blessings_locked(args.output):
            blessing = judge(card, serving_baseline(args.output), floor, force=args.force)
            path = export_version(
                result.model,
                args.output,
                version,
                history=result.history,
                card=card,
                blessing=blessing,
            )
    except OSError as exc:  # export_version leaves no partial version behind
        print(f"error: v{version} was trained but not published: {exc}", file=sys.stderr)
        return 1
    print(f"test accuracy {result.test_accuracy:.4f}, loss {result.test_loss:.4f}; wrote {path}")
    if blessing.blessed:
        forced = " by --force" if args.force and blessing.by == FORCED else ""
        print(f"v{version} is blessed{forced}: {blessing.reason}; services on the root serve it")
    else:
        print(
            f"v{version} is a candidate, not blessed: {blessing.reason}; try it with "
            f"?version={version} on a service that keeps it loaded (LENET_KEEP_VERSIONS=2), "
            f"bless it with: python -m training.bless {version}"
        )
    return 0


def choose_version(root: Path, version: int | None) -> int:
    """``version``, else the next one under ``root``, once ``root`` is known to take a new
    version folder that is not there yet: ``export_version`` would find either problem
    only after training. Another job may still take the version in between."""
    try:
        _probe(root)
        following = artifacts.next_version(root)
    except OSError as exc:
        raise RootUnusable(f"cannot publish model versions under {root}: {exc}") from exc
    if version is None:
        return following
    if (root / str(version)).exists():
        raise RootUnusable(
            f"version {version} already exists under {root}; pass another --version, "
            f"or none for the next one ({following})"
        )
    return version


def _probe(root: Path) -> None:
    """Make ``root`` and, in it, a staging folder like ``export_version``'s, and remove that:
    the sure test of a read-only mount, missing permissions or a file in the way."""
    root.mkdir(parents=True, exist_ok=True)
    os.rmdir(tempfile.mkdtemp(prefix=artifacts.TEMP_PREFIX, dir=root))
