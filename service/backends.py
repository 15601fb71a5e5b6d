"""Inference backends behind one small interface, each loaded from one model version folder.

Inputs are float32 batches (N, 28, 28, 1) in [0, 1], light digit on dark background.
Backends are called from worker threads, never from the event loop, and must be safe to
call from several threads at once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np

from model import artifacts
from model.spec import INPUT_SHAPE


class Backend(Protocol):
    name: str

    def predict(self, images: np.ndarray) -> np.ndarray:
        """(N, 28, 28, 1) → (N, 10) class probabilities."""
        ...

    def activations(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """(N, 28, 28, 1) → every layer's output keyed by layer name, in network order."""
        ...


class TensorFlowBackend:
    """Calls the SavedModel's compiled endpoints directly: ~1 ms, where ``model.predict``
    costs ~100 ms a call in per-call set-up."""

    name = "tensorflow"

    def __init__(self, version_dir: Path, layer_names: list[str]) -> None:
        import tensorflow as tf  # imported here so NumPy-only deployments never need it

        self._tf = tf
        self._model = tf.saved_model.load(str(version_dir))
        self._layer_names = layer_names

    def predict(self, images: np.ndarray) -> np.ndarray:
        return self._model.serve(self._tf.constant(images)).numpy()

    def activations(self, images: np.ndarray) -> dict[str, np.ndarray]:
        outputs = self._model.activations(self._tf.constant(images))
        return {name: outputs[name].numpy() for name in self._layer_names}


class NumpyBackend:
    """The from-scratch NumPy LeNet on the exported ``weights.npz``; needs no TensorFlow."""

    name = "numpy"

    def __init__(self, version_dir: Path, layer_names: list[str]) -> None:
        from model.numpy_lenet import load_lenet

        self._net = load_lenet(version_dir / artifacts.WEIGHTS_FILE)
        self._layer_names = layer_names

    def predict(self, images: np.ndarray) -> np.ndarray:
        return self._net.predict(images)

    def activations(self, images: np.ndarray) -> dict[str, np.ndarray]:
        outputs = self._net.activations(images)
        return {name: outputs[name] for name in self._layer_names}


class OnnxBackend:
    """ONNX Runtime on the exported ``model.onnx`` (probabilities) and ``activations.onnx``
    (every layer); needs only the ``onnxruntime`` package.

    One operator thread per CPU this process may use: on the 2-core dev machine one thread
    gave half the images/s at batch 1024 and no faster single images. Sessions are safe to
    run from several threads at once.
    """

    name = "onnx"

    def __init__(
        self, version_dir: Path, layer_names: list[str], threads: int | None = None
    ) -> None:
        import onnxruntime as ort  # imported here so other deployments never need it

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        options.inter_op_num_threads = 1  # the graph is a chain: nothing runs side by side
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle operator threads would otherwise spin for work, taking the CPU that the event
        # loop and the image decoding of the next requests need on a small machine.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        self._predict = ort.InferenceSession(
            str(version_dir / artifacts.ONNX_FILE), options, providers=providers
        )
        self._activations = ort.InferenceSession(
            str(version_dir / artifacts.ONNX_ACTIVATIONS_FILE), options, providers=providers
        )
        self._layer_names = layer_names

    def predict(self, images: np.ndarray) -> np.ndarray:
        return self._predict.run(["probabilities"], {"image": images})[0]

    def activations(self, images: np.ndarray) -> dict[str, np.ndarray]:
        outputs = self._activations.run(self._layer_names, {"image": images})
        return dict(zip(self._layer_names, outputs, strict=True))


BACKENDS: dict[str, type[TensorFlowBackend] | type[NumpyBackend] | type[OnnxBackend]] = {
    TensorFlowBackend.name: TensorFlowBackend,
    NumpyBackend.name: NumpyBackend,
    OnnxBackend.name: OnnxBackend,
}


def load_backend(name: str, version_dir: Path, layer_names: list[str]) -> Backend:
    """Load and warm up: the first calls trace and allocate, so make them before serving."""
    backend = BACKENDS[name](version_dir, layer_names)
    for batch in (1, 8):
        backend.predict(np.zeros((batch, *INPUT_SHAPE), np.float32))
    backend.activations(np.zeros((1, *INPUT_SHAPE), np.float32))
    return backend
