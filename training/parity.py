"""``python -m training.parity``: do the TensorFlow and NumPy backends serve the same model?

Runs MNIST's test images through a version's SavedModel (the ``serve`` and ``activations``
endpoints the TensorFlow backend calls) and through the NumPy LeNet loaded from the same
folder's weights.npz, and compares probabilities, predicted digits and every layer's output.
Exits 1 when probabilities differ by more than ``TOLERANCE`` or any predicted digit differs.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from model import artifacts
from model.numpy_lenet import load_lenet
from model.spec import LAYER_NAMES, network_input
from training.data import MnistUnavailable, load_mnist

TOLERANCE = 1e-5
"""Largest |Δprobability| allowed: float32 rounding through five layers stays far below it."""
CHUNK = 1000
"""Images per comparison step, so every layer's activations for 10,000 images never coexist."""


@dataclass(frozen=True)
class Parity:
    """How far the two backends' outputs on the same images are apart."""

    images: int
    max_probability_diff: float
    differing_digits: int
    layer_max_diff: dict[str, float]  # max |Δ| of each layer's output, in network order
    tensorflow_accuracy: float
    numpy_accuracy: float

    @property
    def ok(self) -> bool:
        return self.max_probability_diff <= TOLERANCE and self.differing_digits == 0


def compare(version_dir: Path, images: np.ndarray, labels: np.ndarray) -> Parity:
    """Both backends of ``version_dir`` on ``images`` (N, 28, 28, 1) float32 in [0, 1]."""
    saved = tf.saved_model.load(str(version_dir))
    net = load_lenet(version_dir / artifacts.WEIGHTS_FILE)
    max_prob = 0.0
    layer_max = dict.fromkeys(LAYER_NAMES, 0.0)
    tf_digits, np_digits = [], []
    for start in range(0, len(images), CHUNK):
        batch = images[start : start + CHUNK]
        tf_probs = saved.serve(tf.constant(batch)).numpy()
        np_probs = net.predict(batch)
        max_prob = max(max_prob, float(np.abs(tf_probs - np_probs).max()))
        tf_digits.append(tf_probs.argmax(axis=1))
        np_digits.append(np_probs.argmax(axis=1))
        tf_layers = saved.activations(tf.constant(batch))
        for name, output in net.activations(batch).items():
            diff = float(np.abs(tf_layers[name].numpy() - output).max())
            layer_max[name] = max(layer_max[name], diff)
    tf_pred, np_pred = np.concatenate(tf_digits), np.concatenate(np_digits)
    return Parity(
        images=len(images),
        max_probability_diff=max_prob,
        differing_digits=int(np.sum(tf_pred != np_pred)),
        layer_max_diff=layer_max,
        tensorflow_accuracy=float(np.mean(tf_pred == labels)),
        numpy_accuracy=float(np.mean(np_pred == labels)),
    )


def report(parity: Parity) -> str:
    """The lines ``main`` prints, ending in PASS or FAIL."""
    lines = [
        f"images                 {parity.images}",
        f"max |Δprobability|     {parity.max_probability_diff:.3e}  (tolerance {TOLERANCE:.0e})",
        f"differing digits       {parity.differing_digits}",
        "max |Δ| per layer:",
        *(f"  {name:<20} {diff:.3e}" for name, diff in parity.layer_max_diff.items()),
        f"test accuracy          tensorflow {parity.tensorflow_accuracy:.4f}, "
        f"numpy {parity.numpy_accuracy:.4f}",
        "PASS" if parity.ok else "FAIL",
    ]
    return "\n".join(lines)


def latest_version(root: Path) -> Path | None:
    """The newest complete version folder under ``root``: what the service would load."""
    versions = artifacts.list_versions(root)
    return root / str(versions[-1]) if versions else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.parity", description=__doc__)
    root = artifacts.ModelRootSettings().model_root
    parser.add_argument(
        "--model",
        type=Path,
        default=latest_version(root),
        help=f"a model version folder (default: the newest under {root})",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=os.environ.get("MNIST_DIR") or None,
        help="folder with the four MNIST IDX .gz files (default: $MNIST_DIR, else download)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.model is None or not (args.model / artifacts.WEIGHTS_FILE).is_file():
        print(f"error: no model version at {args.model}", file=sys.stderr)
        return 2
    try:
        data = load_mnist(args.data_dir)
    except MnistUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    parity = compare(args.model, network_input(data.x_test), data.y_test)
    print(f"model {args.model}")
    print(report(parity))
    return 0 if parity.ok else 1


if __name__ == "__main__":
    sys.exit(main())
