"""Mini-batch training and evaluation loops for the NumPy network, the lecture's epoch loop."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from model.numpy_lenet.layers import Array
from model.numpy_lenet.losses import SoftmaxCrossEntropy
from model.numpy_lenet.network import Sequential
from model.numpy_lenet.optimizers import Optimizer


class Metrics(NamedTuple):
    loss: float  # mean categorical cross-entropy
    accuracy: float  # fraction of argmax hits


def train_epoch(
    net: Sequential,
    optimizer: Optimizer,
    x: Array,
    y_onehot: Array,
    batch_size: int,
    rng: np.random.Generator,
) -> Metrics:
    """One pass over (x, y_onehot) in shuffled mini-batches, one optimizer step per batch.

    The metrics are averaged over the epoch while the weights change, as Keras's ``fit`` logs.
    """
    loss_fn = SoftmaxCrossEntropy()
    order = rng.permutation(len(x))
    total_loss = hits = 0.0
    for start in range(0, len(x), batch_size):
        batch = order[start : start + batch_size]
        probs = net.forward(x[batch], training=True)
        total_loss += loss_fn.forward(probs, y_onehot[batch]) * len(batch)
        hits += np.sum(probs.argmax(axis=1) == y_onehot[batch].argmax(axis=1))
        net.backward(loss_fn.backward(probs, y_onehot[batch]))
        optimizer.step(net.trainable_layers())
    return Metrics(total_loss / len(x), float(hits) / len(x))


def evaluate(net: Sequential, x: Array, y_onehot: Array) -> Metrics:
    """Loss and accuracy of the current weights on (x, y_onehot)."""
    probs = net.predict(x)
    loss = SoftmaxCrossEntropy().forward(probs, y_onehot)
    return Metrics(loss, float(np.mean(probs.argmax(axis=1) == y_onehot.argmax(axis=1))))
