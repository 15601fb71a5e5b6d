"""The model version every part measures: the newest blessed under the model root, completed
with its ONNX graphs in a scratch copy when it predates them (the onnx backend needs them)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model import artifacts


@dataclass(frozen=True)
class ModelDir:
    root: Path
    """What the service is pointed at (``LENET_MODEL_ROOT``)."""
    version_dir: Path
    source: Path
    """The version folder it came from."""
    onnx_built: bool
    """True when the ONNX graphs were built here because the source lacked them."""

    def describe(self) -> dict[str, Any]:
        card = artifacts.read_json(self.version_dir / artifacts.METRICS_FILE)
        return {
            "source": str(self.source),
            "version": self.version_dir.name,
            "onnx_built_by_bench": self.onnx_built,
            "recipe": (card.get("recipe") or {}).get("name"),
            "test_accuracy": card.get("test_accuracy"),
        }


def prepare(model_root: Path, scratch: Path) -> ModelDir:
    """The newest blessed version under ``model_root``, the one our servers answer from;
    copied into ``scratch`` with ONNX graphs built from its ``weights.npz`` when it has none
    (the copy leaves the source untouched)."""
    versions = [v for v, blessing in artifacts.blessings(model_root).items() if blessing.blessed]
    if not versions:
        raise FileNotFoundError(
            f"no blessed model version under {model_root}; run `make train` "
            "or `python -m training.bless N`"
        )
    source = model_root / str(versions[-1])
    if (source / artifacts.ONNX_FILE).exists() and (
        source / artifacts.ONNX_ACTIVATIONS_FILE
    ).exists():
        return ModelDir(model_root.resolve(), source.resolve(), source.resolve(), False)

    from model.numpy_lenet import read_weights
    from model.onnx_lenet import build_onnx  # needs the `onnx` package (training extra)

    copy = scratch / "lenet" / source.name
    shutil.copytree(source, copy)
    weights = read_weights(copy / artifacts.WEIGHTS_FILE)
    (copy / artifacts.ONNX_FILE).write_bytes(build_onnx(weights))
    (copy / artifacts.ONNX_ACTIVATIONS_FILE).write_bytes(build_onnx(weights, activations=True))
    return ModelDir(copy.parent, copy, source.resolve(), True)


def multiply_adds(version_dir: Path) -> int:
    """Multiply-adds per image, from architecture.json: each conv or dense layer does one per
    kernel weight per output position (parameters minus biases, times positions)."""
    architecture = artifacts.read_json(version_dir / artifacts.ARCHITECTURE_FILE)
    total = 0
    for layer in architecture["layers"]:
        if layer["type"] == "Conv2D":
            height, width, filters = layer["output_shape"]
            total += (layer["parameters"] - filters) * height * width
        elif layer["type"] == "Dense":
            total += layer["parameters"] - layer["units"]
    return total
