"""Explanations for whichever backend predicted: the NumPy LeNet's backward pass on the
version's weights, loaded with the version even where the NumPy backend is not, so that every
version explains the weights its backends serve."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from model.numpy_lenet import Saliency, explain, load_lenet


class Explainer:
    """One NumPy network behind a lock: an explanation's forward and backward store state in
    its layers. One image takes about 0.6 ms; a copy of the network per call cost a quarter
    more and gained nothing in throughput on the 2-core dev machine."""

    def __init__(self, weights: Path) -> None:
        self._net = load_lenet(weights)
        self._lock = threading.Lock()

    def explain(self, images: np.ndarray, digits: Sequence[int]) -> Saliency:
        """(N, 28, 28, 1) images in [0, 1], one digit each → d p[digit] / d image and the rest;
        blocking: call it from a worker thread."""
        with self._lock:
            return explain(self._net, images, digits)
