"""Inference backends behind one small interface, each loaded from one model version folder.

Inputs are float32 batches (N, 28, 28, 1) in [0, 1], light digit on dark background.
Backends must be safe to call from several threads at once. Batches of at most
``inline_max_images`` run on the event loop itself (see ``service.runtime.batching``); larger
ones in a worker thread.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np

from model import artifacts
from model.spec import INPUT_SHAPE, NUM_CLASSES
from service.cpus import usable_cpus
from service.runtime.native_logs import import_tensorflow


class Backend(Protocol):
    name: str
    inline_max_images: int
    """Largest batch cheap enough (well under a millisecond) to run on the event loop."""

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
    inline_max_images = 0  # ~1 ms a call whatever the batch: always in a worker thread

    def __init__(
        self, version_dir: Path, layer_names: list[str], threads: int | None = None
    ) -> None:
        tf = import_tensorflow()  # here, so that deployments without it never import it

        if threads:
            try:  # its pool of independent ops too, which is sized by every CPU otherwise
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(threads)
            except RuntimeError:  # TensorFlow has run before in this process: its pool is fixed
                pass
        self._tf = tf
        self._model = tf.saved_model.load(str(version_dir))
        self._layer_names = layer_names

    def predict(self, images: np.ndarray) -> np.ndarray:
        probabilities: np.ndarray = self._model.serve(self._tf.constant(images)).numpy()
        return probabilities

    def activations(self, images: np.ndarray) -> dict[str, np.ndarray]:
        outputs = self._model.activations(self._tf.constant(images))
        return {name: outputs[name].numpy() for name in self._layer_names}


class NumpyBackend:
    """The from-scratch NumPy LeNet on the exported ``weights.npz``; needs no TensorFlow.

    Its time goes to im2col copies, tanh and small matrix products, mostly one core's work:
    OpenBLAS's own threads gain nothing on matrices this narrow and spin while idle, taking
    the CPU the event loop needs. So OpenBLAS runs one thread (process-wide, through
    threadpoolctl), and a large batch is split across one thread per CPU instead.
    """

    name = "numpy"
    inline_max_images = 4  # ~0.1 ms at batch 1 (docs/benchmarks.md, part 3)
    SPLIT_MIN_IMAGES = 128
    """Batches from this size up are split across threads."""

    def __init__(
        self, version_dir: Path, layer_names: list[str], threads: int | None = None
    ) -> None:
        from threadpoolctl import threadpool_limits

        from model.numpy_lenet import load_lenet

        threadpool_limits(1, user_api="blas")
        self._net = load_lenet(version_dir / artifacts.WEIGHTS_FILE)
        self._layer_names = layer_names
        self._parts = threads or usable_cpus()
        self._helpers = _helper_pool(self._parts - 1) if self._parts > 1 else None

    def predict(self, images: np.ndarray) -> np.ndarray:
        if self._helpers is None or len(images) < self.SPLIT_MIN_IMAGES:
            return self._net.predict(images)
        first, *rest = np.array_split(images, self._parts)
        running = [self._helpers.submit(self._net.predict, part) for part in rest]
        return np.concatenate([self._net.predict(first), *(part.result() for part in running)])

    def activations(self, images: np.ndarray) -> dict[str, np.ndarray]:
        outputs = self._net.activations(images)
        return {name: outputs[name] for name in self._layer_names}


@functools.cache
def _helper_pool(threads: int) -> ThreadPoolExecutor:
    """One pool of each size for the whole process: a replaced version leaves no threads."""
    return ThreadPoolExecutor(threads, thread_name_prefix="numpy-split")


class OnnxBackend:
    """ONNX Runtime on the exported ``model.onnx`` (probabilities) and ``activations.onnx``
    (every layer); needs only the ``onnxruntime`` package.

    Two sessions on the same model: one operator thread for small batches, and one per CPU
    this process may use for large ones. On the 2-core dev machine a second thread halves
    the time of batch 1024, but makes batch 1 slower when it may not spin, and
    spinning idle threads would take the CPU that the event loop and the next requests'
    decoding need. Sessions are safe to run from several threads at once.

    Every batch the batcher forms (up to ``LENET_MAX_IMAGES_PER_CALL``, 64) runs on the event loop:
    about a millisecond at 64, and the session's own threads already use the other core, so
    handing it to the batcher's thread only added a hop (more CPU per request under load in
    the bench's HTTP part).
    """

    name = "onnx"
    inline_max_images = 64
    SMALL_BATCH = 8
    """Batches up to this size run on the one-thread session."""

    def __init__(
        self, version_dir: Path, layer_names: list[str], threads: int | None = None
    ) -> None:
        import onnxruntime as ort  # imported here so other deployments never need it

        def session(file: str, threads: int) -> ort.InferenceSession:
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1  # the graph is a chain: nothing runs side by side
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            return ort.InferenceSession(
                str(version_dir / file), options, providers=["CPUExecutionProvider"]
            )

        threads = threads or usable_cpus()
        self._small = session(artifacts.ONNX_FILE, 1)
        self._large = session(artifacts.ONNX_FILE, threads) if threads > 1 else self._small
        self._activations = session(artifacts.ONNX_ACTIVATIONS_FILE, 1)
        self._layer_names = layer_names

    def predict(self, images: np.ndarray) -> np.ndarray:
        session = self._small if len(images) <= self.SMALL_BATCH else self._large
        probabilities: np.ndarray = session.run(["probabilities"], {"image": images})[0]
        return probabilities

    def activations(self, images: np.ndarray) -> dict[str, np.ndarray]:
        outputs = self._activations.run(self._layer_names, {"image": images})
        return dict(zip(self._layer_names, outputs, strict=True))


BACKENDS: dict[str, type[TensorFlowBackend] | type[NumpyBackend] | type[OnnxBackend]] = {
    TensorFlowBackend.name: TensorFlowBackend,
    NumpyBackend.name: NumpyBackend,
    OnnxBackend.name: OnnxBackend,
}


def load_backend(
    name: str, version_dir: Path, layer_names: list[str], threads: int | None = None
) -> Backend:
    """Load and warm up: the first calls trace and allocate, so make them before serving.
    ``threads``: for its operators; None means every CPU this process may use.

    The warm-up's answers are checked too: a version whose files load but whose network
    answers NaN (a NaN bias in an ONNX graph, which no weights check sees) would otherwise
    be served, and answer 200 with null probabilities."""
    backend = BACKENDS[name](version_dir, layer_names, threads)
    for batch in (1, 8):
        probabilities = backend.predict(np.zeros((batch, *INPUT_SHAPE), np.float32))
        if not _are_probabilities(probabilities, batch):
            raise ValueError(
                f"the {name} backend of {version_dir} answers a blank image with no "
                f"probabilities: {np.asarray(probabilities)[:1]}"
            )
    layers = backend.activations(np.zeros((1, *INPUT_SHAPE), np.float32))
    broken = [layer for layer, values in layers.items() if not np.isfinite(values).all()]
    if broken:
        raise ValueError(f"the {name} backend of {version_dir} gives non-finite {broken}")
    return backend


def _are_probabilities(answer: np.ndarray, batch: int) -> bool:
    """``batch`` rows of NUM_CLASSES finite non-negative numbers, each summing to 1."""
    answer = np.asarray(answer)
    return (
        answer.shape == (batch, NUM_CLASSES)
        and bool(np.isfinite(answer).all())
        and bool((answer >= 0).all())
        and bool(np.allclose(answer.sum(axis=1), 1, atol=1e-3))
    )
