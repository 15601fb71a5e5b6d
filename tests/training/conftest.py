"""Small synthetic MNIST-shaped data the tests write themselves (never the shared MNIST)."""

from pathlib import Path

import numpy as np
import pytest

from training.data import IDX_FILES, write_idx


def synthetic_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each class lights a different horizontal band, so one epoch already learns something."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 4 + 2 * label : 6 + 2 * label, 4:24] = 255
    return images, labels


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mnist")
    x_train, y_train = synthetic_digits(320, seed=1)
    x_test, y_test = synthetic_digits(64, seed=2)
    for key, array in {
        "x_train": x_train,
        "y_train": y_train,
        "x_test": x_test,
        "y_test": y_test,
    }.items():
        write_idx(folder / IDX_FILES[key], array)
    return folder
