"""The lecture's NumPy layers, vectorised: convolution, pooling, dense, activations.

Every layer keeps the lecture's API (``Layer_Dense``): ``forward(inputs)`` stores ``self.output``
and whatever ``backward`` needs; ``backward(dvalues)`` stores ``self.dinputs`` and, for layers
with parameters, ``self.dweights`` and ``self.dbiases``. ``forward(inputs, training=False)``
computes the same output but stores nothing, so one network can serve many threads at once and
holds no batch in memory between requests.

Layout is Keras's, so weights move between the two unchanged:

* feature maps ``(N, H, W, C)``, channels last;
* ``Conv2D`` weights ``(kh, kw, C_in, C_out)``, biases ``(C_out,)``;
* ``Dense`` weights ``(n_inputs, n_neurons)``, biases ``(n_neurons,)``.

A convolution is im2col (a strided window view of the padded input, copied once into a matrix)
and one matmul; its backward scatters the column gradients back with one vectorised slice-add
per kernel offset (kh * kw iterations), never a loop over images or pixels.
The connection table and the pooling layers follow LeCun, Bottou, Bengio & Haffner (1998),
"Gradient-based learning applied to document recognition", Proc. IEEE 86(11).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Literal, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

Array: TypeAlias = npt.NDArray[np.floating[Any]]
Padding: TypeAlias = Literal["valid", "same"]


def _c3_table() -> npt.NDArray[np.bool_]:
    """LeCun et al. 1998, Table I: which of S2's 6 maps feed each of C3's 16 maps."""
    inputs = (
        [{j % 6, (j + 1) % 6, (j + 2) % 6} for j in range(6)]  # maps 0-5: 3 neighbours
        + [{(j + d) % 6 for d in range(4)} for j in range(6)]  # maps 6-11: 4 neighbours
        + [{0, 1, 3, 4}, {1, 2, 4, 5}, {0, 2, 3, 5}]  # maps 12-14: 4, not contiguous
        + [set(range(6))]  # map 15: all six
    )
    return np.array([[i in feeds for feeds in inputs] for i in range(6)])  # (6, 16)


C3_TABLE = _c3_table()
"""LeNet-5's C3 connection table, shape (6 input maps, 16 kernels): 60 connections, which with
5x5 kernels and 16 biases gives the paper's 1,516 parameters. It breaks the symmetry between
maps and keeps the layer small (LeCun et al. 1998, section II.B)."""


class Layer(Protocol):
    """What a network needs from a layer: the lecture's forward/backward pair, and the
    gradient backward leaves behind (which the saliency map reads at every stage)."""

    dinputs: Array

    def forward(self, inputs: Array, training: bool = True) -> Array: ...

    def backward(self, dvalues: Array) -> Array: ...


def glorot_uniform(
    rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int, dtype: Any
) -> Array:
    """Keras's default kernel initialiser, so an untrained NumPy net starts like the Keras one."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding: ceil(size / stride) outputs, the odd pixel padded after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv2D:
    """2-D convolution (Keras ``Conv2D``), optionally with a LeNet-style connection table.

    ``connection_table[c, k]`` says whether input channel ``c`` feeds kernel ``k`` (LeCun et al.
    1998's C3); unconnected weights are masked to zero in forward and get zero gradient, so any
    optimizer leaves them at zero.
    """

    weights: Array
    biases: Array
    dweights: Array
    dbiases: Array
    dinputs: Array

    def __init__(
        self,
        in_channels: int,
        n_kernels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: Padding = "valid",
        connection_table: npt.ArrayLike | None = None,
        rng: np.random.Generator | None = None,
        dtype: Any = np.float32,
    ) -> None:
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        rng = np.random.default_rng() if rng is None else rng
        area = kernel_size * kernel_size
        self.weights = glorot_uniform(
            rng,
            (kernel_size, kernel_size, in_channels, n_kernels),
            area * in_channels,
            area * n_kernels,
            dtype,
        )
        self.biases = np.zeros(n_kernels, dtype=dtype)
        self.connections: npt.NDArray[np.bool_] | None = None
        if connection_table is not None:
            table = np.asarray(connection_table, dtype=bool)
            if table.shape != (in_channels, n_kernels):
                raise ValueError(
                    f"connection table must have shape {(in_channels, n_kernels)}, "
                    f"got {table.shape}"
                )
            self.connections = table
            self.weights *= table  # (kh, kw, C_in, C_out) * (C_in, C_out) broadcasts

    @property
    def n_params(self) -> int:
        """Trainable parameters; only connected kernels count (the paper's 1,516 for C3)."""
        kh, kw, in_channels, n_kernels = self.weights.shape
        connected = in_channels * n_kernels if self.connections is None else self.connections.sum()
        return int(kh * kw * connected + n_kernels)

    def _kernel_matrix(self) -> Array:
        """(kh * kw * C_in + 1, C_out): the kernel in im2col row order, then the biases."""
        weights = self.weights if self.connections is None else self.weights * self.connections
        return np.concatenate([weights.reshape(-1, weights.shape[3]), self.biases[None]])

    def _pads(self, height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
        if self.padding == "valid":
            return (0, 0), (0, 0)
        k, s = self.kernel_size, self.stride
        return _same_padding(height, k, s), _same_padding(width, k, s)

    def _im2col(self, inputs: Array) -> tuple[Array, tuple[int, int, int]]:
        """Each output pixel's receptive field as one row in the kernel's (kh, kw, C) order, then
        a 1 for the bias: cols (N * Ho * Wo, kh * kw * C + 1), so one matmul does it all."""
        n, height, width, channels = inputs.shape
        (top, bottom), (left, right) = self._pads(height, width)
        padded_h, padded_w = height + top + bottom, width + left + right
        if (padded_h, padded_w) != (height, width):
            padded = np.zeros((n, padded_h, padded_w, channels), dtype=inputs.dtype)
            padded[:, top : top + height, left : left + width] = inputs
            inputs = padded
        k, s = self.kernel_size, self.stride
        out_h, out_w = (padded_h - k) // s + 1, (padded_w - k) // s + 1
        step_n, step_h, step_w, step_c = inputs.strides
        windows = as_strided(  # (N, Ho, Wo, kh, kw, C), a read-only view
            inputs,
            (n, out_h, out_w, k, k, channels),
            (step_n, step_h * s, step_w * s, step_h, step_w, step_c),
            writeable=False,
        )
        size = k * k * channels + 1
        if channels == 1:
            # A single-channel row is kw scalars apart, too short to copy fast; stored
            # column-major, each copy runs along an image row instead (twice as fast for conv1).
            cols = np.empty((size, n * out_h * out_w), dtype=inputs.dtype).T
        else:
            cols = np.empty((n * out_h * out_w, size), dtype=inputs.dtype)
        cols[:, -1] = 1
        fields = np.reshape(cols[:, :-1], (n, out_h, out_w, k, k, channels), copy=False)
        np.copyto(fields, windows)  # the one copy of im2col
        return cols, (n, out_h, out_w)

    def forward(self, inputs: Array, training: bool = True) -> Array:
        cols, (n, out_h, out_w) = self._im2col(inputs)
        kernel = self._kernel_matrix()
        output = (cols @ kernel).reshape(n, out_h, out_w, kernel.shape[1])
        if training:
            self.inputs, self.cols, self.output = inputs, cols, output
        return output

    def backward(self, dvalues: Array) -> Array:
        n, out_h, out_w, n_kernels = dvalues.shape
        k, s = self.kernel_size, self.stride
        channels = self.weights.shape[2]
        dflat = dvalues.reshape(-1, n_kernels)  # (N * Ho * Wo, C_out)
        dkernel = self.cols.T @ dflat  # (kh * kw * C + 1, C_out): the ones column gives dbiases
        self.dweights = dkernel[:-1].reshape(self.weights.shape)
        if self.connections is not None:
            self.dweights *= self.connections
        self.dbiases = dkernel[-1]
        # One row per kernel entry, so the slice for offset (i, j) is a whole (C, N, Ho, Wo)
        # block and each slice-add below runs along image rows of a channels-first buffer.
        dcols = self._kernel_matrix()[:-1] @ dflat.T  # (kh * kw * C, N * Ho * Wo)
        dcols = dcols.reshape(k, k, channels, n, out_h, out_w)
        _, height, width, _ = self.inputs.shape
        (top, bottom), (left, right) = self._pads(height, width)
        dpadded = np.zeros(
            (channels, n, height + top + bottom, width + left + right), dtype=dcols.dtype
        )
        for i in range(k):  # col2im: each kernel offset adds to a strided grid of input pixels
            for j in range(k):
                dpadded[:, :, i : i + s * out_h : s, j : j + s * out_w : s] += dcols[i, j]
        cropped = dpadded[:, :, top : top + height, left : left + width]
        self.dinputs = cropped.transpose(1, 2, 3, 0)  # (N, H, W, C), a view
        return self.dinputs


class _Pool:
    """Non-overlapping pool_size x pool_size windows (stride = pool size), as LeNet-5's
    subsampling layers S2 and S4 (LeCun et al. 1998); rows or columns past the last full
    window are dropped, as Keras's 'valid' pooling does."""

    inputs_shape: tuple[int, ...]
    dinputs: Array

    def __init__(self, pool_size: int = 2) -> None:
        self.pool_size = pool_size

    def _reduce(self, inputs: Array, combine: np.ufunc) -> Array:
        """Combine each window's values with ``combine`` (add, maximum): p - 1 calls down the
        rows, then p - 1 across the columns, each on long runs of memory; several times faster
        than reducing a 6-D view, whose innermost run is only C values."""
        n, height, width, channels = inputs.shape
        p = self.pool_size
        out_h, out_w = height // p, width // p
        rows = inputs[:, : out_h * p, : out_w * p].reshape(n * out_h, p, out_w * p * channels)
        down = functools.reduce(combine, [rows[:, i] for i in range(p)])  # (N * Ho, Wo * p * C)
        across = down.reshape(n, out_h, out_w, p, channels)
        return functools.reduce(combine, [across[:, :, :, j] for j in range(p)])  # (N, Ho, Wo, C)

    def _upsample(self, dvalues: Array) -> Array:
        """Copy each window's value to all its p * p input positions; zeros where cropped."""
        p = self.pool_size
        up = np.repeat(np.repeat(dvalues, p, axis=1), p, axis=2)  # (N, Ho * p, Wo * p, C)
        _, height, width, _ = self.inputs_shape
        if up.shape[1:3] != (height, width):
            up = np.pad(up, ((0, 0), (0, height - up.shape[1]), (0, width - up.shape[2]), (0, 0)))
        return up


class AvgPool(_Pool):
    """Average pooling (Keras ``AveragePooling2D(p, strides=p)``); LeNet-5's S2/S4 average too,
    though the paper adds a trainable gain and bias that the lecture's network leaves out."""

    def forward(self, inputs: Array, training: bool = True) -> Array:
        output = self._reduce(inputs, np.add) / self.pool_size**2
        if training:
            self.inputs_shape, self.output = inputs.shape, output
        return output

    def backward(self, dvalues: Array) -> Array:
        self.dinputs = self._upsample(dvalues / self.pool_size**2)
        return self.dinputs


class MaxPool(_Pool):
    """Max pooling (Keras ``MaxPooling2D(p, strides=p)``).

    ``self.mask`` has the input's shape and is True at the one position per window whose value
    became the output ("dinputs and mask have to look the same"); on ties the first position in
    row-major order wins, so each window passes its gradient to exactly one input.
    """

    def forward(self, inputs: Array, training: bool = True) -> Array:
        if not training:
            return self._reduce(inputs, np.maximum)
        n, height, width, channels = inputs.shape
        p = self.pool_size
        out_h, out_w = height // p, width // p
        windows = inputs[:, : out_h * p, : out_w * p].reshape(n, out_h, p, out_w, p, channels)
        flat = windows.transpose(0, 1, 3, 5, 2, 4).reshape(n, out_h, out_w, channels, p * p)
        first_max = flat.argmax(axis=-1)[..., None]  # (N, Ho, Wo, C, 1)
        self.output = np.take_along_axis(flat, first_max, axis=-1)[..., 0]
        chosen = (first_max == np.arange(p * p)).reshape(n, out_h, out_w, channels, p, p)
        self.mask = np.zeros(inputs.shape, dtype=bool)
        self.mask[:, : out_h * p, : out_w * p] = chosen.transpose(0, 1, 4, 2, 5, 3).reshape(
            n, out_h * p, out_w * p, channels
        )
        self.inputs_shape = inputs.shape
        return self.output

    def backward(self, dvalues: Array) -> Array:
        self.dinputs = self._upsample(dvalues) * self.mask
        return self.dinputs


class Flatten:
    """(N, H, W, C) -> (N, H * W * C) in C order, the order Keras's ``Flatten`` uses."""

    dinputs: Array

    def forward(self, inputs: Array, training: bool = True) -> Array:
        output = inputs.reshape(inputs.shape[0], math.prod(inputs.shape[1:]))
        if training:
            self.inputs_shape, self.output = inputs.shape, output
        return output

    def backward(self, dvalues: Array) -> Array:
        self.dinputs = dvalues.reshape(self.inputs_shape)
        return self.dinputs


class Dense:
    """Fully connected layer, the lecture's ``Layer_Dense`` with Glorot-uniform weights."""

    weights: Array
    biases: Array
    dweights: Array
    dbiases: Array
    dinputs: Array

    def __init__(
        self,
        n_inputs: int,
        n_neurons: int,
        *,
        rng: np.random.Generator | None = None,
        dtype: Any = np.float32,
    ) -> None:
        rng = np.random.default_rng() if rng is None else rng
        self.weights = glorot_uniform(rng, (n_inputs, n_neurons), n_inputs, n_neurons, dtype)
        self.biases = np.zeros(n_neurons, dtype=dtype)

    @property
    def n_params(self) -> int:
        return self.weights.size + self.biases.size

    def forward(self, inputs: Array, training: bool = True) -> Array:
        output = inputs @ self.weights + self.biases
        if training:
            self.inputs, self.output = inputs, output
        return output

    def backward(self, dvalues: Array) -> Array:
        self.dweights = self.inputs.T @ dvalues
        self.dbiases = dvalues.sum(axis=0)
        self.dinputs = dvalues @ self.weights.T
        return self.dinputs


class Tanh:
    """Hyperbolic tangent, the squashing function of LeNet-5 (LeCun et al. 1998 use a scaled
    1.7159 tanh(2x/3); the lecture and Keras use the plain one)."""

    dinputs: Array

    def forward(self, inputs: Array, training: bool = True) -> Array:
        output: Array = np.tanh(inputs)
        if training:
            self.output = output
        return output

    def backward(self, dvalues: Array) -> Array:
        self.dinputs = dvalues * (1 - self.output**2)
        return self.dinputs


class ReLU:
    """Rectified linear unit; the gradient at exactly 0 is taken as 0, like the lecture's."""

    dinputs: Array

    def forward(self, inputs: Array, training: bool = True) -> Array:
        output = np.maximum(inputs, 0)
        if training:
            self.inputs, self.output = inputs, output
        return output

    def backward(self, dvalues: Array) -> Array:
        self.dinputs = dvalues * (self.inputs > 0)
        return self.dinputs
