"""SGD with momentum and Adam, with Keras's update rules and learning-rate schedule.

The lecture's optimizers run ``pre_update_params()``, ``update_params(layer)`` for each layer
with parameters, then ``post_update_params()``; ``step(layers)`` does the three. The rules are
Keras's (``keras.optimizers.SGD`` / ``Adam``), so a recipe tuned on the Keras network trains
the NumPy one the same way. Optimizer state lives in the optimizer, keyed by layer, so a fresh
optimizer starts from zero velocity whatever trained the layers before.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, TypeAlias

import numpy as np

from model.numpy_lenet.layers import Array


class ParamLayer(Protocol):
    """A layer with parameters and the gradients its backward stored (Conv2D, Dense)."""

    weights: Array
    biases: Array
    dweights: Array
    dbiases: Array


LearningRate: TypeAlias = float | Callable[[int], float]
"""A constant, or a schedule from the number of updates done so far to a learning rate."""


@dataclass(frozen=True)
class ExponentialDecay:
    """Keras's ``ExponentialDecay``: lr = initial * decay_rate ** (step / decay_steps),
    with the exponent floored when ``staircase``."""

    initial_learning_rate: float
    decay_steps: int
    decay_rate: float
    staircase: bool = False

    def __call__(self, step: int) -> float:
        exponent = step / self.decay_steps
        if self.staircase:
            exponent = math.floor(exponent)
        return float(self.initial_learning_rate * self.decay_rate**exponent)


class Optimizer:
    """The lecture's optimizer protocol around a learning rate or schedule."""

    def __init__(self, learning_rate: LearningRate) -> None:
        self.learning_rate = learning_rate
        self.iterations = 0
        self.current_learning_rate = self._rate(0)

    def _rate(self, step: int) -> float:
        lr = self.learning_rate
        return lr(step) if callable(lr) else lr

    def pre_update_params(self) -> None:
        """Evaluate the schedule at the number of updates done so far, as Keras does."""
        self.current_learning_rate = self._rate(self.iterations)

    def update_params(self, layer: ParamLayer) -> None:
        raise NotImplementedError

    def post_update_params(self) -> None:
        self.iterations += 1

    def step(self, layers: Iterable[ParamLayer]) -> None:
        """One update of every layer from the gradients its last backward stored."""
        self.pre_update_params()
        for layer in layers:
            self.update_params(layer)
        self.post_update_params()


class SGD(Optimizer):
    """velocity = momentum * velocity - lr * gradient; parameter += velocity."""

    def __init__(self, learning_rate: LearningRate = 0.01, momentum: float = 0.0) -> None:
        super().__init__(learning_rate)
        self.momentum = momentum
        self._velocities: dict[ParamLayer, tuple[Array, Array]] = {}

    def update_params(self, layer: ParamLayer) -> None:
        lr = self.current_learning_rate
        if not self.momentum:
            layer.weights -= lr * layer.dweights
            layer.biases -= lr * layer.dbiases
            return
        if layer not in self._velocities:
            self._velocities[layer] = (np.zeros_like(layer.weights), np.zeros_like(layer.biases))
        velocities = self._velocities[layer]
        params, grads = (layer.weights, layer.biases), (layer.dweights, layer.dbiases)
        for param, velocity, grad in zip(params, velocities, grads, strict=True):
            velocity *= self.momentum
            velocity -= lr * grad
            param += velocity


class Adam(Optimizer):
    """Keras's Adam: bias-corrected step size, epsilon added to sqrt(v) (not to its estimate)."""

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
    ) -> None:
        super().__init__(learning_rate)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self._moments: dict[ParamLayer, list[tuple[Array, Array]]] = {}

    def update_params(self, layer: ParamLayer) -> None:
        t = self.iterations + 1
        alpha = self.current_learning_rate * math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        if layer not in self._moments:
            self._moments[layer] = [
                (np.zeros_like(p), np.zeros_like(p)) for p in (layer.weights, layer.biases)
            ]
        moments = self._moments[layer]
        params, grads = (layer.weights, layer.biases), (layer.dweights, layer.dbiases)
        for param, (m, v), grad in zip(params, moments, grads, strict=True):
            m += (1 - self.beta_1) * (grad - m)
            v += (1 - self.beta_2) * (grad**2 - v)
            param -= alpha * m / (np.sqrt(v) + self.epsilon)
