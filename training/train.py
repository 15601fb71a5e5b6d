"""Fit the Keras LeNet on MNIST with a recipe; select on validation, test once at the end."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from model.keras_lenet import build_lenet
from model.spec import NUM_CLASSES
from training.data import Mnist
from training.photo_form import photo_forms
from training.recipes import Recipe


@dataclass
class TrainResult:
    model: keras.Model
    history: dict[str, list[float]]
    seconds: float
    test_loss: float
    test_accuracy: float
    test_predictions: np.ndarray  # (N,) predicted digits on the test set


def scale(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) → float32 (N, 28, 28, 1) in [0, 1]: the network's input."""
    return (images.astype(np.float32) / 255.0)[..., None]


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float):
    """Hold out the last ``fraction`` of the training set, as Keras's validation_split does."""
    n_val = int(round(len(x) * fraction))
    return (x[:-n_val], y[:-n_val]), (x[-n_val:], y[-n_val:])


def training_splits(data: Mnist, recipe: Recipe, seed: int):
    """((images, labels), (images, labels)) to fit and to validate on, uint8 as MNIST has
    them; with the recipe's ``photo_form``, the fitting split also holds every one of its
    digits redrawn as a photographed digit reaches the network (validation stays MNIST's)."""
    (x_fit, y_fit), validation = split_validation(
        data.x_train, data.y_train, recipe.validation_split
    )
    if recipe.photo_form:
        x_fit = np.concatenate([x_fit, photo_forms(x_fit, seed)])
        y_fit = np.concatenate([y_fit, y_fit])
    return (x_fit, y_fit), validation


def augmenter(seed: int) -> keras.Sequential:
    """Small shifts, rotations and zooms: the distortions LeCun et al. (1998) trained with."""
    fill = {"fill_mode": "constant", "fill_value": 0.0}
    return keras.Sequential(
        [
            keras.layers.RandomRotation(10 / 360, seed=seed, **fill),
            keras.layers.RandomZoom(0.1, seed=seed + 1, **fill),
            keras.layers.RandomTranslation(0.1, 0.1, seed=seed + 2, **fill),
        ],
        name="augment",
    )


def make_dataset(x, y, batch_size: int, *, seed: int, augment: bool) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed)
    ds = ds.batch(batch_size)
    if augment:
        aug = augmenter(seed)
        ds = ds.map(lambda a, b: (aug(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


class KeepBest(keras.callbacks.Callback):
    """Restore the weights of the epoch with the best validation accuracy at the end."""

    def __init__(self) -> None:
        super().__init__()
        self.best = -np.inf
        self.best_weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        accuracy = (logs or {}).get("val_accuracy", -np.inf)
        if accuracy >= self.best:  # ties go to the later epoch: lower learning rate, steadier
            self.best, self.best_weights = accuracy, self.model.get_weights()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def train(recipe: Recipe, data: Mnist, *, seed: int, verbose: int = 2) -> TrainResult:
    """Train with ``recipe`` (its epochs and batch size already resolved by the caller)."""
    keras.utils.set_random_seed(seed)
    (x_fit, y_fit), (x_held, y_held) = training_splits(data, recipe, seed)
    x_train, y_train = scale(x_fit), keras.utils.to_categorical(y_fit, NUM_CLASSES)
    x_val, y_val = scale(x_held), keras.utils.to_categorical(y_held, NUM_CLASSES)
    train_ds = make_dataset(x_train, y_train, recipe.batch_size, seed=seed, augment=recipe.augment)
    steps = len(train_ds) * recipe.epochs

    model = build_lenet()
    model.compile(
        optimizer=recipe.build_optimizer(steps),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    callbacks = [KeepBest()] if recipe.keep_best else []
    started = time.perf_counter()
    fit = model.fit(
        train_ds,
        validation_data=(x_val, y_val),
        epochs=recipe.epochs,
        callbacks=callbacks,
        verbose=verbose,
    )
    seconds = time.perf_counter() - started

    x_test = scale(data.x_test)
    y_test = keras.utils.to_categorical(data.y_test, NUM_CLASSES)
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=1024, verbose=0)
    predictions = np.argmax(model.predict(x_test, batch_size=1024, verbose=0), axis=1)
    history = {key: [float(v) for v in values] for key, values in fit.history.items()}
    return TrainResult(model, history, seconds, float(test_loss), float(test_accuracy), predictions)
