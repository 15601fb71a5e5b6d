"""Fit LeNet from scratch with the NumPy library (``model.numpy_lenet``), then hand back a Keras
model holding the same weights, so ``export_version`` publishes the same artifact format.

The loop mirrors ``training.train``: the last ``validation_split`` of the training set is held
out, each epoch is one shuffled pass with one optimizer step per batch and is followed by a
validation pass, and the test set is scored once at the end. Keras's update rules and
schedules come from ``model.numpy_lenet.optimizers``, so the lecture recipe (SGD with momentum,
ExponentialDecay) runs exactly as on TensorFlow. What the NumPy library lacks, augmentation,
weight decay and weight averaging, ``numpy_recipe`` drops and says so in the description that
metrics.json records.

Start the process with ``OPENBLAS_NUM_THREADS=1`` on a small or shared CPU: OpenBLAS's threads
spin on these thin matrices and ran several times slower than one thread on the 2-core dev box
(see ``model.numpy_lenet``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import keras
import numpy as np

from model.keras_lenet import build_lenet
from model.numpy_lenet import (
    SGD,
    Adam,
    ExponentialDecay,
    Sequential,
    SoftmaxCrossEntropy,
    evaluate,
    lenet,
    train_epoch,
)
from model.numpy_lenet.optimizers import LearningRate, Optimizer
from model.spec import NUM_CLASSES, network_input
from training.data import Mnist
from training.recipes import Recipe
from training.result import TrainResult
from training.splits import training_splits


def numpy_recipe(recipe: Recipe) -> Recipe:
    """``recipe`` as the NumPy backend runs it: augmentation, weight decay and EMA dropped,
    each named in the description so the model card tells the truth."""
    dropped = [
        label
        for label, used in (
            ("the random shifts, rotations and zoom", recipe.augment),
            ("weight decay", recipe.weight_decay),
            ("weight averaging (EMA)", recipe.ema),
        )
        if used
    ]
    if not dropped:
        return recipe
    return dataclasses.replace(
        recipe,
        augment=False,
        weight_decay=0.0,
        ema=False,
        description=(
            f"{recipe.description} NumPy backend: without {', '.join(dropped)}, "
            "which model.numpy_lenet does not implement."
        ),
    )


def cosine_decay(initial_learning_rate: float, decay_steps: int) -> Callable[[int], float]:
    """Keras's ``CosineDecay`` (alpha 0, no warm-up): from the initial rate to zero at the end."""

    def schedule(step: int) -> float:
        progress = min(step, decay_steps) / decay_steps
        return initial_learning_rate * 0.5 * (1 + math.cos(math.pi * progress))

    return schedule


def build_optimizer(recipe: Recipe, total_steps: int) -> Optimizer:
    """The NumPy twin of ``Recipe.build_optimizer``."""
    lr: LearningRate
    if recipe.schedule == "exponential":
        lr = ExponentialDecay(recipe.learning_rate, recipe.decay_steps, recipe.decay_rate)
    else:
        lr = cosine_decay(recipe.learning_rate, max(total_steps, 1))
    if recipe.optimizer == "sgd":
        return SGD(lr, momentum=recipe.momentum)
    return Adam(lr)


def to_keras(net: Sequential) -> keras.Sequential:
    """A Keras LeNet holding ``net``'s weights (same "<layer>/kernel|bias" layout, no reshape)."""
    weights = net.get_weights()
    model = build_lenet()
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([weights[f"{layer.name}/kernel"], weights[f"{layer.name}/bias"]])
    return model


def train_numpy(recipe: Recipe, data: Mnist, *, seed: int, verbose: int = 2) -> TrainResult:
    """Train with ``recipe`` (already passed through ``numpy_recipe``; epochs and batch size
    resolved by the caller); with ``verbose`` print one line per epoch, like Keras's verbose=2."""
    if recipe.augment or recipe.weight_decay or recipe.ema:
        raise ValueError("the NumPy backend has no augmentation, weight decay or EMA")
    rng = np.random.default_rng(seed)
    eye = np.eye(NUM_CLASSES, dtype=np.float32)
    (x_fit, y_fit), (x_held, y_held) = training_splits(data, recipe, seed)
    x_train, y_train = network_input(x_fit), eye[y_fit]
    x_val, y_val = network_input(x_held), eye[y_held]
    steps_per_epoch = math.ceil(len(x_train) / recipe.batch_size)

    net = lenet(seed)
    optimizer = build_optimizer(recipe, steps_per_epoch * recipe.epochs)
    history: dict[str, list[float]] = {
        k: [] for k in ("loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds")
    }
    best_accuracy, best_weights = -np.inf, None
    started = time.perf_counter()
    for epoch in range(1, recipe.epochs + 1):
        epoch_started = time.perf_counter()
        fit = train_epoch(net, optimizer, x_train, y_train, recipe.batch_size, rng)
        val = evaluate(net, x_val, y_val)
        epoch_seconds = time.perf_counter() - epoch_started
        history["loss"].append(fit.loss)
        history["accuracy"].append(fit.accuracy)
        history["val_loss"].append(val.loss)
        history["val_accuracy"].append(val.accuracy)
        history["epoch_seconds"].append(epoch_seconds)
        if recipe.keep_best and val.accuracy >= best_accuracy:  # ties: the later epoch, as KeepBest
            best_accuracy, best_weights = val.accuracy, net.get_weights()
        if verbose:
            print(
                f"Epoch {epoch}/{recipe.epochs} - {epoch_seconds:.1f}s"
                f" - loss: {fit.loss:.4f} - accuracy: {fit.accuracy:.4f}"
                f" - val_loss: {val.loss:.4f} - val_accuracy: {val.accuracy:.4f}",
                flush=True,
            )
    seconds = time.perf_counter() - started
    if best_weights is not None:
        net.set_weights(best_weights)

    probs = net.predict(network_input(data.x_test))
    test_loss = SoftmaxCrossEntropy().forward(probs, eye[data.y_test])
    predictions = probs.argmax(axis=1)
    test_accuracy = float(np.mean(predictions == data.y_test))
    return TrainResult(to_keras(net), history, seconds, test_loss, test_accuracy, predictions)
