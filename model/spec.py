"""What both LeNet implementations agree on, importable without any framework."""

import numpy as np

INPUT_SHAPE = (28, 28, 1)
"""Gray levels scaled to [0, 1], light digit on dark background, as in MNIST."""
NUM_CLASSES = 10
LAYER_NAMES = ("conv1", "pool1", "conv2", "pool2", "conv3", "flatten", "fc1", "output")
"""The API's names for the layers, in network order."""


def network_input(gray: np.ndarray) -> np.ndarray:
    """(N, 28, 28) gray levels 0–255 → (N, 28, 28, 1) float32 in [0, 1]: what training fits
    and every backend reads, so that a digit is scaled the same way on both sides."""
    return (np.asarray(gray, dtype=np.float32) / np.float32(255.0))[..., None]
