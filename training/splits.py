"""The images a recipe fits and validates on, the same for both training backends.

Apart from ``training.data`` because it needs the recipe and the photo forms, which bring
Keras and OpenCV; loading MNIST needs neither.
"""

from __future__ import annotations

import numpy as np

from training.data import Mnist
from training.photo_form import photo_forms
from training.recipes import Recipe

Split = tuple[np.ndarray, np.ndarray]
"""(images, labels): (N, 28, 28) uint8 and (N,) uint8, as MNIST has them."""


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float) -> tuple[Split, Split]:
    """Hold out the last ``fraction`` of the training set, as Keras's validation_split does."""
    n_val = int(round(len(x) * fraction))
    return (x[:-n_val], y[:-n_val]), (x[-n_val:], y[-n_val:])


def training_splits(data: Mnist, recipe: Recipe, seed: int) -> tuple[Split, Split]:
    """(to fit, to validate on); with the recipe's ``photo_form``, the fitting split also
    holds every one of its digits redrawn as a photographed digit reaches the network
    (validation stays MNIST's)."""
    (x_fit, y_fit), validation = split_validation(
        data.x_train, data.y_train, recipe.validation_split
    )
    if recipe.photo_form:
        x_fit = np.concatenate([x_fit, photo_forms(x_fit, seed)])
        y_fit = np.concatenate([y_fit, y_fit])
    return (x_fit, y_fit), validation
