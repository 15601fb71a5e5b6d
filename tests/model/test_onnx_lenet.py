"""The ONNX LeNet and the ONNX Runtime backend against the NumPy LeNet, on the bundled weights."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from model import artifacts
from model.numpy_lenet import Sequential, load_lenet, read_weights
from model.onnx_lenet import KERAS_SHAPES, build_onnx
from model.spec import INPUT_SHAPE, LAYER_NAMES
from service.runtime.backends import NumpyBackend, OnnxBackend, load_backend
from tests.bundled import VERSION

WEIGHTS = VERSION / artifacts.WEIGHTS_FILE


def digit_like_images(count: int, seed: int = 0) -> np.ndarray:
    """(count, 28, 28, 1) float32 in [0, 1]: one to three soft light strokes on black with
    noise, like a drawn digit, plus blank and all-white images; they reach every class."""
    rng = np.random.default_rng(seed)
    pixels = np.stack(np.mgrid[0:28, 0:28], axis=-1).astype(np.float32)  # (28, 28, 2): row, col
    images = np.zeros((count, 28, 28), np.float32)
    for image in images:
        for _ in range(rng.integers(1, 4)):
            start, end = rng.uniform(4, 24, (2, 2))
            along = np.clip(
                (pixels - start) @ (end - start) / max(np.sum((end - start) ** 2), 1e-6), 0, 1
            )
            nearest = start + along[..., None] * (end - start)  # (28, 28, 2): closest stroke point
            distance = np.linalg.norm(pixels - nearest, axis=-1)
            image += np.clip(2.5 - distance, 0, 1) * rng.uniform(0.6, 1.0)
        image += rng.normal(0, 0.05, image.shape)
    images[: count // 20] = 0.0
    images[count // 20 : count // 10] = 1.0
    return np.clip(images, 0, 1)[..., None]


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return digit_like_images(300)


@pytest.fixture(scope="module")
def net() -> Sequential:
    return load_lenet(WEIGHTS)


@pytest.fixture(scope="module")
def version_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A version folder as the training job writes it, as far as the ONNX backend reads it."""
    directory = tmp_path_factory.mktemp("lenet") / "1"
    directory.mkdir()
    shutil.copy(WEIGHTS, directory / artifacts.WEIGHTS_FILE)
    weights = read_weights(WEIGHTS)
    (directory / artifacts.ONNX_FILE).write_bytes(build_onnx(weights))
    activations = build_onnx(weights, activations=True)
    (directory / artifacts.ONNX_ACTIVATIONS_FILE).write_bytes(activations)
    return directory


def test_onnx_predicts_like_numpy(images: np.ndarray, net: Sequential) -> None:
    session = ort.InferenceSession(build_onnx(read_weights(WEIGHTS)))
    [expected] = [o.name for o in session.get_outputs()]
    assert expected == "probabilities"

    (probabilities,) = session.run(["probabilities"], {"image": images})
    reference = net.predict(images)

    assert probabilities.shape == (len(images), 10)
    assert len(set(reference.argmax(1))) >= 5, "the test images should reach many classes"
    np.testing.assert_array_equal(probabilities.argmax(1), reference.argmax(1))
    np.testing.assert_allclose(probabilities, reference, rtol=0, atol=1e-5)


def test_onnx_activations_match_numpy_in_keras_layout(images: np.ndarray, net: Sequential) -> None:
    session = ort.InferenceSession(build_onnx(read_weights(WEIGHTS), activations=True))
    assert [o.name for o in session.get_outputs()] == list(LAYER_NAMES)

    outputs = dict(zip(LAYER_NAMES, session.run(list(LAYER_NAMES), {"image": images}), strict=True))
    reference = net.activations(images)

    for name in LAYER_NAMES:
        assert outputs[name].shape == (len(images), *KERAS_SHAPES[name]) == reference[name].shape
        np.testing.assert_allclose(outputs[name], reference[name], rtol=0, atol=1e-5, err_msg=name)


def test_onnx_backend_answers_like_numpy_backend(
    images: np.ndarray, version_dir: Path, net: Sequential
) -> None:
    # Two threads whatever the machine: batch 1 and 8 take ONNX's one-thread session, 300 its
    # two-thread one, and NumPy splits 300 across two threads.
    onnx_backend = OnnxBackend(version_dir, list(LAYER_NAMES), threads=2)
    numpy_backend = NumpyBackend(version_dir, list(LAYER_NAMES), threads=2)
    np.testing.assert_allclose(numpy_backend.predict(images), net.predict(images), atol=1e-6)

    for batch in (images[:1], images[:8], images):
        probabilities = onnx_backend.predict(batch)
        reference = numpy_backend.predict(batch)
        np.testing.assert_array_equal(probabilities.argmax(1), reference.argmax(1))
        np.testing.assert_allclose(probabilities, reference, rtol=0, atol=1e-5)

    outputs = onnx_backend.activations(images[:2])
    reference_outputs = numpy_backend.activations(images[:2])
    assert list(outputs) == list(LAYER_NAMES)
    for name in LAYER_NAMES:
        assert outputs[name].shape == reference_outputs[name].shape
        np.testing.assert_allclose(outputs[name], reference_outputs[name], rtol=0, atol=1e-5)


def test_onnx_backend_loads_by_name_and_returns_only_the_layers_asked_for(
    version_dir: Path,
) -> None:
    backend = load_backend("onnx", version_dir, ["conv1", "output"])

    outputs = backend.activations(np.zeros((1, *INPUT_SHAPE), np.float32))

    assert backend.name == "onnx"
    assert list(outputs) == ["conv1", "output"]
    assert outputs["conv1"].shape == (1, 28, 28, 6)
