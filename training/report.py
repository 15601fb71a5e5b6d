"""What a training run leaves behind for people: the curves and the model card."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, classes: int = 10) -> np.ndarray:
    """Rows are true digits, columns predicted ones."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels.astype(np.int64), predictions.astype(np.int64)), 1)
    return matrix


def plot_curves(history: dict[str, list[float]], path: Path, title: str) -> None:
    """Training vs validation loss and accuracy per epoch: the lecture's overfitting check."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        ax.plot(epochs, history[metric], "o-", label="training")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "o-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def library_versions(*names: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def model_card(
    *,
    version: int,
    backend: str,
    recipe: dict[str, Any],
    epochs: int,
    seconds: float,
    test_loss: float,
    test_accuracy: float,
    confusion: np.ndarray,
    data_source: str,
    data_sha256: dict[str, str],
    data_limit: int | None,
    train_samples: int,
    test_samples: int,
    seed: int,
    parameters: int,
) -> dict[str, Any]:
    """The content of metrics.json, the model card the service shows at /v1/model."""
    return {
        "model": "lenet",
        "version": version,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training_backend": backend,
        "test_accuracy": round(test_accuracy, 6),
        "test_loss": round(test_loss, 6),
        "test_samples": test_samples,
        "train_samples": train_samples,
        "parameters": parameters,
        "epochs": epochs,
        "seconds": round(seconds, 1),
        "seconds_per_epoch": round(seconds / max(epochs, 1), 2),
        "seed": seed,
        "recipe": recipe,
        "confusion_matrix": confusion.tolist(),
        "data": {"source": data_source, "sha256": data_sha256, "limit": data_limit},
        "machine": {"cpus": _cpu_count(), "platform": platform.platform()},
        "libraries": library_versions("tensorflow-cpu", "tensorflow", "keras", "numpy"),
    }


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
