"""What a training backend hands back: the same for Keras and NumPy, so one export follows."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np


@dataclass
class TrainResult:
    model: keras.Model
    history: dict[str, list[float]]  # per epoch: loss, accuracy, val_*, epoch_seconds
    seconds: float  # the whole fit, every epoch
    test_loss: float
    test_accuracy: float
    test_predictions: np.ndarray  # (N,) predicted digits on the test set
