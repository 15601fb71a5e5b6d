"""The images a recipe fits and validates on, the same for both training backends.

Apart from ``training.data`` because it needs the recipe and the photo forms, which bring
Keras and OpenCV; loading MNIST needs neither.
"""

from __future__ import annotations

import numpy as np

from training.data import MIN_TRAINING_IMAGES, Mnist
from training.photo_form import photo_forms
from training.recipes import Recipe

Split = tuple[np.ndarray, np.ndarray]
"""(images, labels): (N, 28, 28) uint8 and (N,) uint8, as MNIST has them."""


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float) -> tuple[Split, Split]:
    """Hold out the last ``fraction`` of the training set, as Keras's validation_split does,
    but at least one image and never all: both trainers fit and validate every epoch, so a
    few images (``--limit``) still give a split of each."""
    if len(x) < MIN_TRAINING_IMAGES:
        raise ValueError(
            f"{len(x)} training images: need {MIN_TRAINING_IMAGES} to fit and validate"
        )
    n_val = min(max(round(len(x) * fraction), 1), len(x) - 1)
    n_fit = len(x) - n_val
    return (x[:n_fit], y[:n_fit]), (x[n_fit:], y[n_fit:])


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
