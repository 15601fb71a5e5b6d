"""The on-disk model format: a repository of integer-versioned model directories.

Laid out as TF Serving expects (``<root>/<name>/<version>/saved_model.pb``), with the
framework-free weights and the model card beside the SavedModel::

    artifacts/lenet/1/
        saved_model.pb, variables/   the SavedModel: endpoints ``serve`` and ``activations``
        model.keras                  the Keras model, for further training
        weights.npz                  every weight keyed "<layer>/kernel", "<layer>/bias"
        model.onnx, activations.onnx ONNX graphs from those weights: probabilities; every layer
        architecture.json            the layer table: shapes, parameters, kernel sizes, ...
        metrics.json                 the model card: test accuracy, recipe, data hashes, ...
        history.json, curves.png     per-epoch loss/accuracy, training vs validation

A version is written to a hidden temporary folder beside its final place and renamed
into place in one step, so a reader never sees a half-written version. No TensorFlow
here: the NumPy backend reads this module too.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from pydantic_settings import BaseSettings, SettingsConfigDict

SAVED_MODEL_FILE = "saved_model.pb"
KERAS_FILE = "model.keras"
WEIGHTS_FILE = "weights.npz"
ONNX_FILE = "model.onnx"
ONNX_ACTIVATIONS_FILE = "activations.onnx"
METRICS_FILE = "metrics.json"
ARCHITECTURE_FILE = "architecture.json"
HISTORY_FILE = "history.json"
CURVES_FILE = "curves.png"
VERSION_FILES = frozenset(
    {
        SAVED_MODEL_FILE,
        "variables",
        KERAS_FILE,
        WEIGHTS_FILE,
        ONNX_FILE,
        ONNX_ACTIVATIONS_FILE,
        METRICS_FILE,
        ARCHITECTURE_FILE,
        HISTORY_FILE,
        CURVES_FILE,
    }
)
"""Everything a complete version folder holds, whichever backend trained it."""
TEMP_PREFIX = ".tmp-"


class ModelRootSettings(BaseSettings):
    """Where the model repository is, ``LENET_MODEL_ROOT``: the training job writes there
    and the service reads there, so both take it from this one setting."""

    model_config = SettingsConfigDict(env_prefix="LENET_", extra="ignore", protected_namespaces=())

    model_root: Path = Path("artifacts/lenet")
    """The model repository: integer version folders as the training job writes them."""


def list_versions(root: Path) -> list[int]:
    """Complete versions under ``root``, ascending; temporary and foreign entries are skipped."""
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(root: Path) -> int:
    versions = list_versions(root)
    return versions[-1] + 1 if versions else 1


@contextmanager
def writing_version(root: Path, version: int) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success rename it to ``root/version``.

    On any exception the temporary folder is removed and nothing appears under
    ``root/version``. The rename is atomic on one filesystem, which the sibling
    temporary folder guarantees.
    """
    final = root / str(version)
    if final.exists():
        raise FileExistsError(f"model version {final} already exists")
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{version}-", dir=root))
    try:
        yield staging
        staging.chmod(0o755)  # mkdtemp makes it 0700; readers in other accounts need access
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def save_weights(path: Path, weights: dict[str, np.ndarray]) -> None:
    """Write weights keyed "<layer>/kernel" and "<layer>/bias" as float32 arrays.

    ``model.numpy_lenet.read_weights`` reads them back, with checks.
    """
    arrays: dict[str, Any] = {key: np.asarray(value, np.float32) for key, value in weights.items()}
    np.savez(path, **arrays)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
