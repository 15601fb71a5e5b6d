"""The saliency map against TensorFlow's GradientTape, on the bundled model's weights.

Relative error here is ||numpy - tape|| / ||tape||, per input and digit, over the whole
gradient. The tape runs in float64: TensorFlow's own float32 gradient of a confident
probability loses digits in 1 - p (up to 1e-2 relative error on these digits), which
``explain`` avoids.
"""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from model import artifacts
from model.numpy_lenet import Sequential, explain, lenet, read_weights
from model.numpy_lenet.saliency import probability_gradient
from model.spec import network_input
from tests.bundled import VERSION
from tests.model.test_numpy_parity import build_lenet_float64, set_keras_weights

WEIGHTS = VERSION / artifacts.WEIGHTS_FILE
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "mnist-test-sample.npz"


def relative_errors(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """||actual - expected|| / ||expected|| for each row (each input)."""
    difference = (actual - expected).reshape(len(expected), -1)
    return np.linalg.norm(difference, axis=1) / np.linalg.norm(
        expected.reshape(len(expected), -1), axis=1
    )


@pytest.fixture(scope="module")
def weights() -> dict[str, np.ndarray]:
    """Read once: every network here, and the tape's, then has the same weights even if the
    bundled model is retrained while the tests run."""
    return read_weights(WEIGHTS)


@pytest.fixture(scope="module")
def served(weights) -> Sequential:
    """The network the service explains with: float32, as ``load_lenet`` builds it."""
    net = lenet()
    net.set_weights(weights)
    return net


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    """The first test digit of each class 0-9, as the service scales it."""
    with np.load(SAMPLE) as sample:
        images, labels = sample["images"], sample["labels"]
    return network_input(images[[int(np.flatnonzero(labels == d)[0]) for d in range(10)]])


@pytest.fixture(scope="module")
def tape(weights, inputs) -> dict[int, dict[str, np.ndarray]]:
    """digit → d p[digit] / d (the input and every layer's output), by GradientTape in float64."""
    model = build_lenet_float64()
    set_keras_weights(model, weights)
    x = tf.constant(inputs.astype(np.float64))
    gradients = {}
    for digit in range(10):
        with tf.GradientTape() as recording:
            recording.watch(x)
            outputs = {}
            values = x
            for layer in model.layers:  # layer by layer: model() would cast to float32
                values = outputs[layer.name] = layer(values)
            probability = values[:, digit]
        found = recording.gradient(probability, {"input": x, **outputs})
        gradients[digit] = {name: value.numpy() for name, value in found.items()}
    return gradients


@pytest.mark.parametrize("digit", range(10))
def test_the_served_float32_gradient_matches_gradient_tape(served, inputs, tape, digit):
    """The service's network (float32, from weights.npz) within 1e-5 of the exact gradient,
    for every target digit on ten real digits, the confident and the unlikely ones."""
    found = explain(served, inputs, [digit] * len(inputs))
    expected = tape[digit]["input"]
    assert found.gradient.shape == expected.shape == inputs.shape
    assert relative_errors(found.gradient, expected).max() <= 1e-5
    assert relative_errors(found.gradient_x_input, expected * inputs).max() <= 1e-5


@pytest.mark.parametrize("digit", [0, 3, 7])
def test_the_float64_gradient_is_gradient_tapes(weights, inputs, tape, digit):
    """In float64 both sides compute the same thing: only rounding is left."""
    net = lenet(dtype=np.float64)
    net.set_weights(weights)
    found = explain(net, inputs, [digit] * len(inputs))
    assert relative_errors(found.gradient, tape[digit]["input"]).max() <= 1e-9


@pytest.mark.parametrize("digit", [1, 4, 9])
def test_the_layer_norms_are_those_of_gradient_tape(served, inputs, tape, digit):
    found = explain(served, inputs, [digit] * len(inputs))
    layers = [name for name in tape[digit] if name != "input"]
    assert list(found.layer_norms) == layers
    for name in layers:
        expected = np.linalg.norm(tape[digit][name].reshape(len(inputs), -1), axis=1)
        np.testing.assert_allclose(found.layer_norms[name], expected, rtol=1e-5, err_msg=name)


def test_each_input_gets_its_own_digits_gradient(served, inputs):
    """A batch with a different digit per input gives each input what it gets alone (to
    float32's rounding: a batch's products are summed in another order)."""
    digits = [9, 0, 5, 5, 2, 7, 1, 3, 8, 6]
    together = explain(served, inputs, digits)
    for index, digit in enumerate(digits):
        alone = explain(served, inputs[index : index + 1], [digit])
        assert relative_errors(together.gradient[index : index + 1], alone.gradient) <= 1e-5
        np.testing.assert_allclose(together.probabilities[index], alone.probabilities[0], 1e-5)


def test_the_softmax_row_stays_exact_for_a_confident_probability():
    """p_d (1 - p_d) from the other classes' sum: 1 - p_d in float32 would be 4 % off here."""
    logits = np.array([20.0, 5.0, 4.0, 3.0])
    exact_p = np.exp(logits) / np.exp(logits).sum()  # p_0 = 1 - 4.6e-7
    exact = exact_p[0] * (np.eye(4)[0] - exact_p)
    row = probability_gradient(exact_p.astype(np.float32)[None], [0])[0]
    np.testing.assert_allclose(row, exact, rtol=1e-6)


@pytest.mark.parametrize("digits", [[-1], [10], [3.0], [3, 4]], ids=str)
def test_a_digit_outside_the_classes_is_refused(served, digits):
    """-1 would index from the end: digit 9's gradient, without a word."""
    with pytest.raises(ValueError, match="expected 1 classes from 0 to 9"):
        explain(served, np.zeros((1, 28, 28, 1), np.float32), digits)


def test_inputs_of_another_shape_are_refused(served):
    with pytest.raises(ValueError, match=r"expected inputs of shape \(N, 28, 28, 1\)"):
        explain(served, np.zeros((1, 28, 28), np.float32), [3])
