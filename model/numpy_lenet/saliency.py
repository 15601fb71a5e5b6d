"""Why the network chose a digit: the gradient of that digit's probability with respect to
each input pixel, from the network's own backward pass.

The saliency map of Simonyan, Vedaldi & Zisserman (2014), "Deep Inside Convolutional Networks:
Visualising Image Classification Models and Saliency Maps", with the softmax probability
p_d as the score; gradient × input is Shrikumar et al.'s (2016) "Not Just a Black Box" product,
which says how much each pixel's own value contributed rather than how sensitive p_d is to it.

``Sequential.backward`` enters just below the softmax, so it is given the softmax Jacobian's
row for digit d, d p_d / d z_j = p_d (δ_dj - p_j). Its diagonal entry p_d (1 - p_d) is written
p_d Σ_{j≠d} p_j: for a confident p_d, 1 - p_d in float32 keeps only a few digits.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from model.numpy_lenet.layers import Array
from model.numpy_lenet.losses import Softmax
from model.numpy_lenet.network import Sequential


@dataclass(frozen=True)
class Saliency:
    """What ``explain`` computed for a batch of N inputs."""

    probabilities: Array
    """(N, classes): the network's own forward pass."""
    gradient: Array
    """(N, H, W, C): d p_d / d inputs, per unit of the inputs as given (the service gives
    ``model.spec.network_input``'s [0, 1] scale: per gray level it is this / 255)."""
    gradient_x_input: Array
    """(N, H, W, C): gradient × inputs, the same whatever the inputs' scale."""
    layer_norms: dict[str, Array]
    """Stage name → (N,): the L2 norm of d p_d / d (that stage's output), in network order;
    for the last stage, whose output is the probabilities, a one-hot: 1."""


def probability_gradient(probabilities: Array, digits: npt.ArrayLike) -> Array:
    """(N, classes) probabilities, N digits → d p_d / d logits (N, classes): the softmax
    Jacobian's row p_d (onehot_d - p), with 1 - p_d taken as the sum of the other classes.
    ValueError unless ``digits`` holds one class for each row (a negative one would index
    from the end)."""
    count, classes = probabilities.shape
    chosen_classes = np.asarray(digits)
    if (
        chosen_classes.shape != (count,)
        or chosen_classes.dtype.kind not in "iu"
        or not ((chosen_classes >= 0) & (chosen_classes < classes)).all()
    ):
        raise ValueError(f"expected {count} classes from 0 to {classes - 1}, got {digits!r}")
    target = np.eye(classes, dtype=probabilities.dtype)[chosen_classes]
    others = probabilities * (1 - target)  # (N, classes): 0 at d
    chosen = (probabilities * target).sum(axis=1, keepdims=True)  # (N, 1): p_d
    gradient: Array = chosen * (target * others.sum(axis=1, keepdims=True) - others)
    return gradient


def explain(net: Sequential, inputs: npt.ArrayLike, digits: npt.ArrayLike) -> Saliency:
    """Inputs (N, H, W, C) and one digit per input → d p_digit / d inputs and what goes with it.

    Runs a training-mode forward and backward, which store state in the layers: callers
    serialise calls on one network (``predict`` and ``activations`` need no such care).
    """
    x = net.check_input(inputs)
    probabilities = net.forward(x, training=True)  # every layer keeps what backward needs
    gradient = net.backward(probability_gradient(probabilities, digits))  # (N, H, W, C)
    norms = {}
    for stage, after in itertools.pairwise(net.stages):
        first = after.layers[0]
        assert not isinstance(first, Softmax)  # Sequential allows a softmax only last
        norms[stage.name] = _l2(first.dinputs)  # d p_d / d (stage's output), one row per input
    norms[net.stages[-1].name] = np.ones(len(x), dtype=net.dtype)  # d p_d / d p: one-hot
    return Saliency(probabilities, gradient, gradient * x, norms)


def _l2(gradients: Array) -> Array:
    flat = gradients.reshape(len(gradients), -1)  # (N, ...) → (N, size)
    norms: Array = np.sqrt(np.einsum("ij,ij->i", flat, flat))
    return norms
