"""The lecture's LeNet as an ONNX graph, built node by node from the shared weight file.

No TensorFlow and no converter: the graph is written with ``onnx.helper`` from the arrays
that ``model.numpy_lenet.read_weights`` returns (Keras's layouts), so it computes what the
Keras and NumPy networks compute. Only the training job needs ``onnx``; the service runs the
bytes with ``onnxruntime`` alone.

The API is channels-last (Keras's ``(N, H, W, C)``); ONNX's Conv and AveragePool are
channels-first (``(N, C, H, W)``). The graph switches to NCHW once after the input and back
only where a layer's output leaves the graph. There are two graphs because onnxruntime runs
every node of a graph whatever outputs a call asks for: with the activation outputs and
their layout conversions in one graph, asking it for probabilities alone gave 18% fewer
images per CPU-second at batch 1024 (2-core dev machine).

- ``build_onnx(weights)``: ``image`` → ``probabilities``, for prediction.
- ``build_onnx(weights, activations=True)``: ``image`` → one output per layer name, each
  with Keras's output shape (``KERAS_SHAPES``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from model.spec import INPUT_SHAPE, LAYER_NAMES, NUM_CLASSES

OPSET = 18
"""ONNX operator set; onnxruntime runs opset 18 since version 1.14."""
INPUT_NAME = "image"
PROBABILITIES = "probabilities"
KERAS_SHAPES = {
    "conv1": (28, 28, 6),
    "pool1": (14, 14, 6),
    "conv2": (10, 10, 16),
    "pool2": (5, 5, 16),
    "conv3": (1, 1, 120),
    "flatten": (120,),
    "fc1": (84,),
    "output": (NUM_CLASSES,),
}
"""Each layer's output shape without the batch axis, as Keras reports it (channels last)."""


def build_onnx(weights: Mapping[str, np.ndarray], *, activations: bool = False) -> bytes:
    """The serialized model: ``image`` (N, 28, 28, 1) float32 in [0, 1] → ``probabilities``
    (N, 10); with ``activations``, every layer's output keyed by layer name instead."""
    graph = _Graph(weights)
    height, width, _ = INPUT_SHAPE
    # (N, 28, 28, 1) → (N, 1, 28, 28): with one channel, NHWC and NCHW order the same
    # values the same way, so a reshape (no copy) does the transpose.
    x = graph.reshape(INPUT_NAME, [-1, 1, height, width], "image/nchw")
    x = graph.conv("conv1", x, pad=2, stride=1)  # (N, 6, 28, 28): "same" for 5x5 pads 2
    x = graph.avg_pool("pool1", x)  # (N, 6, 14, 14)
    x = graph.conv("conv2", x, pad=0, stride=1)  # (N, 16, 10, 10)
    x = graph.avg_pool("pool2", x)  # (N, 16, 5, 5)
    x = graph.conv("conv3", x, pad=0, stride=3)  # (N, 120, 1, 1)
    # (N, 120, 1, 1) → (N, 120): on a 1x1 map, Keras's Flatten of NHWC is just the channels
    x = graph.reshape(x, [-1, KERAS_SHAPES["flatten"][0]], "flatten")
    x = graph.dense("fc1", x, "Tanh", "fc1")  # (N, 84)
    graph.dense("output", x, "Softmax", "output" if activations else PROBABILITIES)  # (N, 10)

    if not activations:
        return graph.serialize({PROBABILITIES: (NUM_CLASSES,)})
    for name in LAYER_NAMES:
        if len(KERAS_SHAPES[name]) == 3:  # (N, C, H, W) → (N, H, W, C), Keras's layout
            graph.node("Transpose", [f"{name}/nchw"], name, perm=[0, 2, 3, 1])
    return graph.serialize(KERAS_SHAPES)


class _Graph:
    """Nodes and initializers collected in order, each layer's weights taken from the file."""

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        self._weights = weights
        self._nodes: list[onnx.NodeProto] = []
        self._initializers: list[onnx.TensorProto] = []

    def node(self, op: str, inputs: list[str], output: str, **attributes: Any) -> str:
        self._nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    def constant(self, name: str, array: np.ndarray) -> str:
        self._initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def reshape(self, x: str, shape: list[int], output: str) -> str:
        shape_name = self.constant(f"{output}/shape", np.array(shape, np.int64))
        return self.node("Reshape", [x, shape_name], output)

    def conv(self, name: str, x: str, *, pad: int, stride: int) -> str:
        """Conv then tanh, as Keras's Conv2D(activation="tanh")."""
        kernel = self._weights[f"{name}/kernel"].astype(np.float32)  # (kh, kw, in, out): HWIO
        w = self.constant(f"{name}/W", kernel.transpose(3, 2, 0, 1))  # (out, in, kh, kw): OIHW
        b = self.constant(f"{name}/B", self._weights[f"{name}/bias"].astype(np.float32))
        linear = self.node(
            "Conv",
            [x, w, b],
            f"{name}/linear",
            kernel_shape=list(kernel.shape[:2]),
            pads=[pad] * 4,  # top, left, bottom, right
            strides=[stride, stride],
        )
        return self.node("Tanh", [linear], f"{name}/nchw")

    def avg_pool(self, name: str, x: str) -> str:
        """Keras's AveragePooling2D(2, strides=2), valid: LeCun et al. 1998's subsampling."""
        return self.node("AveragePool", [x], f"{name}/nchw", kernel_shape=[2, 2], strides=[2, 2])

    def dense(self, name: str, x: str, activation: str, output: str) -> str:
        """x @ kernel + bias, then the activation; Keras's (in, out) kernel is Gemm's B as is."""
        w = self.constant(f"{name}/W", self._weights[f"{name}/kernel"].astype(np.float32))
        b = self.constant(f"{name}/B", self._weights[f"{name}/bias"].astype(np.float32))
        linear = self.node("Gemm", [x, w, b], f"{name}/linear")
        axis = {"axis": -1} if activation == "Softmax" else {}
        return self.node(activation, [linear], output, **axis)

    def serialize(self, outputs: Mapping[str, tuple[int, ...]]) -> bytes:
        """The checked model; strict shape inference proves the declared output shapes."""
        image = helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", *INPUT_SHAPE])
        results = [
            helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", *shape])
            for name, shape in outputs.items()
        ]
        graph = helper.make_graph(self._nodes, "lenet", [image], results, self._initializers)
        opsets = [helper.make_opsetid("", OPSET)]
        model = helper.make_model(
            graph,
            opset_imports=opsets,
            ir_version=helper.find_min_ir_version_for(opsets),  # the oldest that has the opset
            producer_name="lenet-serve",
        )
        onnx.checker.check_model(model, full_check=True)  # includes strict shape inference
        serialized: bytes = model.SerializeToString()
        return serialized
