"""Softmax output and categorical cross-entropy, with the lecture's combined backward.

The network applies the softmax itself (Keras fuses ``activation="softmax"`` into the output
layer), so the loss reads probabilities. Its backward is the lecture's shortcut for softmax
followed by cross-entropy: the gradient with respect to the logits is ``(probs - y_true) / N``,
exact and cheaper and more stable than chaining the softmax Jacobian; ``Sequential.backward``
therefore enters the network just below the softmax.
"""

from __future__ import annotations

import numpy as np

from model.numpy_lenet.layers import Array

EPSILON = 1e-7
"""Probabilities are clipped to [EPSILON, 1 - EPSILON] before the log, as Keras does."""


class Softmax:
    """Row-wise softmax over class scores (N, classes), shifted by the row max so exp never
    overflows. Forward only: training goes through ``SoftmaxCrossEntropy.backward``."""

    def forward(self, inputs: Array, training: bool = True) -> Array:
        exp = np.exp(inputs - inputs.max(axis=1, keepdims=True))
        output: Array = exp / exp.sum(axis=1, keepdims=True)
        if training:
            self.output = output
        return output


class SoftmaxCrossEntropy:
    """Mean categorical cross-entropy of softmax probabilities against one-hot targets."""

    def forward(self, probs: Array, y_true: Array) -> float:
        """Mean over the batch of -sum(y_true * log(probs))."""
        clipped = np.clip(probs, EPSILON, 1 - EPSILON)
        return float(-np.mean(np.sum(y_true * np.log(clipped), axis=1)))

    def backward(self, probs: Array, y_true: Array) -> Array:
        """Store and return d(mean loss)/d(logits) = (probs - y_true) / N."""
        self.dinputs = (probs - y_true) / len(probs)
        return self.dinputs
