"""Fit the Keras LeNet on MNIST with a recipe; select on validation, test once at the end."""

from __future__ import annotations

import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from model.keras_lenet import build_lenet
from model.spec import NUM_CLASSES, network_input
from training.data import Mnist
from training.recipes import Recipe
from training.result import TrainResult
from training.splits import training_splits


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


def make_dataset(
    x: np.ndarray, y: np.ndarray, batch_size: int, *, seed: int, augment: bool
) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed)
    ds = ds.batch(batch_size)
    if augment:
        aug = augmenter(seed)
        ds = ds.map(lambda a, b: (aug(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


class KeepBest(keras.callbacks.Callback):  # type: ignore[misc]  # Keras has no stubs
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


class EpochClock(keras.callbacks.Callback):  # type: ignore[misc]  # Keras has no stubs
    """Wall seconds of each epoch, its validation pass included (Keras validates before
    ``on_epoch_end``); the last callback, so the others' epoch-end work counts too."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._began = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._began = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._began)


def train(recipe: Recipe, data: Mnist, *, seed: int, verbose: int = 2) -> TrainResult:
    """Train with ``recipe`` (its epochs and batch size already resolved by the caller)."""
    keras.utils.set_random_seed(seed)
    (x_fit, y_fit), (x_held, y_held) = training_splits(data, recipe, seed)
    x_train, y_train = network_input(x_fit), keras.utils.to_categorical(y_fit, NUM_CLASSES)
    x_val, y_val = network_input(x_held), keras.utils.to_categorical(y_held, NUM_CLASSES)
    train_ds = make_dataset(x_train, y_train, recipe.batch_size, seed=seed, augment=recipe.augment)
    steps = len(train_ds) * recipe.epochs

    model = build_lenet()
    model.compile(
        optimizer=recipe.build_optimizer(steps),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    clock = EpochClock()
    callbacks = [KeepBest(), clock] if recipe.keep_best else [clock]
    started = time.perf_counter()
    fit = model.fit(
        train_ds,
        validation_data=(x_val, y_val),
        epochs=recipe.epochs,
        callbacks=callbacks,
        verbose=verbose,
    )
    seconds = time.perf_counter() - started

    x_test = network_input(data.x_test)
    y_test = keras.utils.to_categorical(data.y_test, NUM_CLASSES)
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=1024, verbose=0)
    predictions = np.argmax(model.predict(x_test, batch_size=1024, verbose=0), axis=1)
    history = {key: [float(v) for v in values] for key, values in fit.history.items()}
    history["epoch_seconds"] = clock.seconds
    return TrainResult(model, history, seconds, float(test_loss), float(test_accuracy), predictions)
