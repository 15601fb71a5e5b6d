"""A sequential container of named stages, and the lecture's LeNet built from it.

Keras fuses an activation into its Conv2D and Dense layers, so one Keras layer is one ``Stage``
here: a name and one or two NumPy layers (e.g. conv1 = Conv2D then Tanh). Stage names are
Keras's layer names (``model.spec.LAYER_NAMES``); activations and weights are keyed by them,
which is what lets the service show the same activations and load the same weights whichever
backend runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from model.numpy_lenet.layers import (
    Array,
    AvgPool,
    Conv2D,
    Dense,
    Flatten,
    Layer,
    Tanh,
)
from model.numpy_lenet.losses import Softmax
from model.spec import INPUT_SHAPE, NUM_CLASSES

PREDICT_BATCH = 64
"""Images per chunk in ``predict``: the im2col matrices (about 5 MB) stay in cache; on the
2-core dev machine that gave 27k images per CPU-second against 15k for one batch of 1024."""


@dataclass(frozen=True)
class Stage:
    """One Keras layer: its name and the NumPy layers it stands for, applied in order."""

    name: str
    layers: tuple[Layer | Softmax, ...]

    def forward(self, inputs: Array, training: bool = True) -> Array:
        for layer in self.layers:
            inputs = layer.forward(inputs, training)
        return inputs


class Sequential:
    """Stages applied in order; the last layer must be the softmax that the loss folds in."""

    def __init__(
        self, stages: Sequence[Stage], input_shape: tuple[int, ...], dtype: Any = np.float32
    ) -> None:
        layers = [layer for stage in stages for layer in stage.layers]
        if not layers or not isinstance(layers[-1], Softmax):
            raise ValueError("the last layer must be a Softmax: backward starts below it")
        self._body: list[Layer] = []
        for layer in layers[:-1]:
            if isinstance(layer, Softmax):
                raise ValueError("a Softmax may only be the last layer")
            self._body.append(layer)
        self._params: dict[str, Conv2D | Dense] = {}
        for stage in stages:
            owners = [layer for layer in stage.layers if isinstance(layer, Conv2D | Dense)]
            if len(owners) > 1:
                raise ValueError(f"stage {stage.name!r} has more than one layer with weights")
            if owners:
                self._params[stage.name] = owners[0]
        self.stages = tuple(stages)
        self.input_shape = input_shape
        self.dtype = np.dtype(dtype)

    def check_input(self, x: npt.ArrayLike) -> Array:
        """``x`` as this network's dtype, or ValueError if not a batch of its input shape."""
        inputs = np.asarray(x, dtype=self.dtype)
        if inputs.shape[1:] != self.input_shape:
            expected = ", ".join(str(size) for size in self.input_shape)
            raise ValueError(f"expected inputs of shape (N, {expected}), got {inputs.shape}")
        return inputs

    def forward(self, x: Array, training: bool = True) -> Array:
        """Class probabilities (N, classes); with ``training`` each layer keeps what backward
        needs, as the lecture's forward does."""
        for stage in self.stages:
            x = stage.forward(x, training)
        return x

    def backward(self, dlogits: Array) -> Array:
        """Backpropagate d(loss)/d(logits), i.e. ``SoftmaxCrossEntropy.backward``'s result,
        from just below the softmax; sets every layer's dinputs, dweights and dbiases and
        returns d(loss)/d(inputs)."""
        dvalues = dlogits
        for layer in reversed(self._body):
            dvalues = layer.backward(dvalues)
        return dvalues

    def predict(self, x: npt.ArrayLike, batch_size: int = PREDICT_BATCH) -> Array:
        """Probabilities (N, classes) for images (N, H, W, C); stores nothing, so threads may
        share one network."""
        inputs = self.check_input(x)
        if len(inputs) <= batch_size:
            return self.forward(inputs, training=False)
        return np.concatenate(
            [
                self.forward(inputs[start : start + batch_size], training=False)
                for start in range(0, len(inputs), batch_size)
            ]
        )

    def activations(self, x: npt.ArrayLike) -> dict[str, Array]:
        """Every stage's output by stage name, in order, with Keras's output shapes."""
        outputs = {}
        inputs = self.check_input(x)
        for stage in self.stages:
            inputs = outputs[stage.name] = stage.forward(inputs, training=False)
        return outputs

    def trainable_layers(self) -> list[Conv2D | Dense]:
        """The layers an optimizer updates, in forward order."""
        return list(self._params.values())

    def param_counts(self) -> dict[str, int]:
        """Trainable parameters per stage (0 for pooling and flatten), as Keras's summary."""
        return {
            stage.name: self._params[stage.name].n_params if stage.name in self._params else 0
            for stage in self.stages
        }

    def get_weights(self) -> dict[str, Array]:
        """Copies of the parameters as ``{"<stage>/kernel": ..., "<stage>/bias": ...}``."""
        weights = {}
        for name, layer in self._params.items():
            weights[f"{name}/kernel"] = layer.weights.copy()
            weights[f"{name}/bias"] = layer.biases.copy()
        return weights

    def set_weights(self, weights: Mapping[str, npt.ArrayLike]) -> None:
        """Replace every parameter; all keys and shapes are checked before anything changes.

        Raises ValueError naming the first missing, unexpected, misshapen, non-numeric or
        non-finite entry.
        """
        slots = {}
        for name, layer in self._params.items():
            slots[f"{name}/kernel"] = (layer, "weights")
            slots[f"{name}/bias"] = (layer, "biases")
        for key in slots:
            if key not in weights:
                raise ValueError(f"missing weight {key!r}")
        for key in weights:
            if key not in slots:
                raise ValueError(f"unexpected weight {key!r}; expected {sorted(slots)}")
        checked = {key: _checked(key, weights[key], getattr(*slots[key])) for key in slots}
        for key, (layer, attribute) in slots.items():
            setattr(layer, attribute, checked[key])


def _checked(key: str, value: npt.ArrayLike, current: Array) -> Array:
    array = np.asarray(value)
    if array.shape != current.shape:
        raise ValueError(f"weight {key!r} has shape {array.shape}, expected {current.shape}")
    if array.dtype.kind not in "fiu":
        raise ValueError(f"weight {key!r} has dtype {array.dtype}, expected floats")
    # Always a copy: the caller's array stays theirs. Checked once cast, since a float64
    # beyond float32's range becomes an infinity there.
    with np.errstate(over="ignore"):  # the infinity is refused below, by name
        cast: Array = array.astype(current.dtype)
    if not np.isfinite(cast).all():
        raise ValueError(f"weight {key!r} has non-finite values as {current.dtype}")
    return cast


def lenet(seed: int | None = 0, dtype: Any = np.float32) -> Sequential:
    """The lecture's LeNet, untrained: Glorot-uniform kernels and zero biases, as Keras starts.

    Same layers and shapes as ``model.keras_lenet.build_lenet()`` (61,706 parameters).
    """
    rng = np.random.default_rng(seed)

    def conv(in_channels: int, n_kernels: int, **kwargs: Any) -> Conv2D:
        return Conv2D(in_channels, n_kernels, 5, rng=rng, dtype=dtype, **kwargs)

    stages = [
        Stage("conv1", (conv(1, 6, padding="same"), Tanh())),  # (N, 28, 28, 6)
        Stage("pool1", (AvgPool(2),)),  # (N, 14, 14, 6)
        Stage("conv2", (conv(6, 16), Tanh())),  # (N, 10, 10, 16)
        Stage("pool2", (AvgPool(2),)),  # (N, 5, 5, 16)
        Stage("conv3", (conv(16, 120, stride=3), Tanh())),  # (N, 1, 1, 120)
        Stage("flatten", (Flatten(),)),  # (N, 120)
        Stage("fc1", (Dense(120, 84, rng=rng, dtype=dtype), Tanh())),  # (N, 84)
        Stage("output", (Dense(84, NUM_CLASSES, rng=rng, dtype=dtype), Softmax())),  # (N, 10)
    ]
    return Sequential(stages, INPUT_SHAPE, dtype)
