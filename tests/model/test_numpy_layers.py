"""The NumPy layers against central differences (float64), and the network's contract."""

import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from model.numpy_lenet import (
    C3_TABLE,
    SGD,
    AvgPool,
    Conv2D,
    Dense,
    ExponentialDecay,
    Flatten,
    MaxPool,
    ReLU,
    Sequential,
    Softmax,
    SoftmaxCrossEntropy,
    Stage,
    Tanh,
    evaluate,
    lenet,
    load_lenet,
    read_weights,
    train_epoch,
)
from model.spec import INPUT_SHAPE, LAYER_NAMES

EPS = 1e-6


def numerical_gradient(loss: Callable[[], float], array: np.ndarray) -> np.ndarray:
    """d(loss)/d(array) by central differences, perturbing ``array`` in place."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + EPS
        plus = loss()
        array[index] = saved - EPS
        minus = loss()
        array[index] = saved
        grad[index] = (plus - minus) / (2 * EPS)
    return grad


def check_gradients(layer, inputs: np.ndarray, rng: np.random.Generator) -> None:
    """backward(g) must give the gradients of sum(forward(x) * g), g random."""
    upstream = rng.standard_normal(layer.forward(inputs).shape)
    layer.backward(upstream)

    def loss() -> float:
        return float(np.sum(layer.forward(inputs, training=False) * upstream))

    np.testing.assert_allclose(
        layer.dinputs, numerical_gradient(loss, inputs), rtol=1e-6, atol=1e-8
    )
    if hasattr(layer, "weights"):
        np.testing.assert_allclose(
            layer.dweights, numerical_gradient(loss, layer.weights), rtol=1e-6, atol=1e-8
        )
        np.testing.assert_allclose(
            layer.dbiases, numerical_gradient(loss, layer.biases), rtol=1e-6, atol=1e-8
        )


def as_float64(layer):
    """Float64 parameters for exact differences, with non-zero biases so they count."""
    layer.weights = layer.weights.astype(np.float64)
    layer.biases = np.random.default_rng(1).standard_normal(layer.biases.shape)
    return layer


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.mark.parametrize("in_channels", [1, 3])
def test_conv2d_gradient_matches_numerical_with_valid_padding(rng, in_channels):
    conv = as_float64(Conv2D(in_channels, 4, 3, rng=rng))
    check_gradients(conv, rng.standard_normal((2, 6, 5, in_channels)), rng)


@pytest.mark.parametrize(("in_channels", "size"), [(1, (8, 7)), (2, (7, 8))])
def test_conv2d_gradient_matches_numerical_with_same_padding_and_stride(rng, in_channels, size):
    conv = as_float64(Conv2D(in_channels, 3, 3, stride=2, padding="same", rng=rng))
    inputs = rng.standard_normal((2, *size, in_channels))
    assert conv.forward(inputs).shape == (2, 4, 4, 3)  # ceil(size / stride), as TensorFlow
    check_gradients(conv, inputs, rng)


def test_conv2d_gradient_matches_numerical_with_valid_padding_and_stride(rng):
    conv = as_float64(Conv2D(2, 3, 3, stride=3, rng=rng))
    inputs = rng.standard_normal((2, 8, 9, 2))
    assert conv.forward(inputs).shape == (2, 2, 3, 3)
    check_gradients(conv, inputs, rng)


def test_conv2d_gradient_matches_numerical_with_connection_table(rng):
    conv = as_float64(Conv2D(6, 16, 3, connection_table=C3_TABLE, rng=rng))
    unconnected = np.broadcast_to(~C3_TABLE, conv.weights.shape)
    assert np.all(conv.weights[unconnected] == 0)
    check_gradients(conv, rng.standard_normal((2, 4, 5, 6)), rng)
    assert np.all(conv.dweights[unconnected] == 0)

    SGD(0.1, momentum=0.9).step([conv])
    assert np.all(conv.weights[unconnected] == 0)
    assert np.any(conv.weights[~unconnected] != 0)


def test_conv2d_ignores_unconnected_weights_in_forward(rng):
    conv = Conv2D(6, 16, 5, connection_table=C3_TABLE, rng=rng)
    inputs = rng.random((2, 9, 9, 6), dtype=np.float32)
    before = conv.forward(inputs)
    conv.weights[np.broadcast_to(~C3_TABLE, conv.weights.shape)] = 5.0
    np.testing.assert_array_equal(conv.forward(inputs), before)


def test_c3_table_is_lecun_1998_table_1():
    assert C3_TABLE.shape == (6, 16)
    assert C3_TABLE.sum() == 60
    np.testing.assert_array_equal(C3_TABLE.sum(axis=0), [3] * 6 + [4] * 9 + [6])
    # first row of the paper's table: S2 map 0 feeds C3 maps 0, 4-6, 9-12, 14, 15
    np.testing.assert_array_equal(np.flatnonzero(C3_TABLE[0]), [0, 4, 5, 6, 9, 10, 11, 12, 14, 15])
    assert Conv2D(6, 16, 5, connection_table=C3_TABLE).n_params == 1516


def test_conv2d_rejects_a_connection_table_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"\(6, 16\)"):
        Conv2D(6, 16, 5, connection_table=C3_TABLE.T)


def test_maxpool_gradient_matches_numerical_without_ties(rng):
    pool = MaxPool(2)
    inputs = rng.permutation(2 * 5 * 7 * 3).reshape(2, 5, 7, 3).astype(np.float64)
    pool.forward(inputs)
    assert pool.mask.shape == inputs.shape
    check_gradients(pool, inputs, rng)
    assert np.all(pool.dinputs[:, 4] == 0) and np.all(pool.dinputs[:, :, 6] == 0)  # cropped


def test_maxpool_routes_a_tied_window_gradient_to_exactly_one_position():
    pool = MaxPool(2)
    inputs = np.ones((1, 4, 4, 2))
    pool.forward(inputs)
    windows = pool.mask.reshape(1, 2, 2, 2, 2, 2)  # (N, Ho, p, Wo, p, C)
    np.testing.assert_array_equal(windows.sum(axis=(2, 4)), np.ones((1, 2, 2, 2)))
    dvalues = np.arange(8.0).reshape(1, 2, 2, 2)
    assert pool.backward(dvalues).sum() == dvalues.sum()


def test_maxpool_inference_gives_the_training_output(rng):
    inputs = rng.standard_normal((3, 6, 6, 4))
    pool = MaxPool(3)
    np.testing.assert_array_equal(pool.forward(inputs, training=False), pool.forward(inputs))


def test_avgpool_gradient_matches_numerical(rng):
    check_gradients(AvgPool(2), rng.standard_normal((2, 5, 7, 3)), rng)


def test_dense_gradient_matches_numerical(rng):
    check_gradients(as_float64(Dense(5, 4, rng=rng)), rng.standard_normal((3, 5)), rng)


def test_tanh_gradient_matches_numerical(rng):
    check_gradients(Tanh(), rng.standard_normal((3, 4, 2)), rng)


def test_relu_gradient_matches_numerical(rng):
    inputs = rng.choice([-1.0, 1.0], (3, 7)) * rng.uniform(0.1, 2.0, (3, 7))  # away from the kink
    check_gradients(ReLU(), inputs, rng)


def test_flatten_keeps_keras_order_and_restores_the_shape(rng):
    inputs = rng.standard_normal((2, 3, 4, 5))
    flatten = Flatten()
    np.testing.assert_array_equal(flatten.forward(inputs)[1], inputs[1].ravel())
    assert flatten.backward(flatten.output).shape == inputs.shape


def test_softmax_cross_entropy_gradient_matches_numerical(rng):
    logits = rng.standard_normal((4, 5))
    y_true = np.eye(5)[[0, 3, 3, 1]]
    loss_fn = SoftmaxCrossEntropy()
    probs = Softmax().forward(logits)
    loss_fn.backward(probs, y_true)

    def loss() -> float:
        return loss_fn.forward(Softmax().forward(logits), y_true)

    np.testing.assert_allclose(loss_fn.dinputs, numerical_gradient(loss, logits), rtol=1e-6)


def test_softmax_is_stable_for_large_logits():
    probs = Softmax().forward(np.array([[1000.0, 1000.0, -1000.0]]))
    np.testing.assert_allclose(probs, [[0.5, 0.5, 0.0]])


def test_exponential_decay_follows_keras_formula():
    schedule = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert schedule(0) == 0.1
    assert schedule(5) == pytest.approx(0.1 * 0.5**0.5)
    assert ExponentialDecay(0.1, 10, 0.5, staircase=True)(15) == pytest.approx(0.05)


def test_importing_numpy_lenet_does_not_import_tensorflow_or_keras():
    code = (
        "import model.numpy_lenet, sys; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_lenet_stages_have_keras_names_shapes_and_parameter_counts():
    net = lenet(seed=0)
    acts = net.activations(np.zeros((2, *INPUT_SHAPE), np.float32))
    assert tuple(acts) == LAYER_NAMES
    assert {name: a.shape for name, a in acts.items()} == {
        "conv1": (2, 28, 28, 6),
        "pool1": (2, 14, 14, 6),
        "conv2": (2, 10, 10, 16),
        "pool2": (2, 5, 5, 16),
        "conv3": (2, 1, 1, 120),
        "flatten": (2, 120),
        "fc1": (2, 84),
        "output": (2, 10),
    }
    counts = net.param_counts()
    assert counts == {
        "conv1": 156,
        "pool1": 0,
        "conv2": 2416,
        "pool2": 0,
        "conv3": 48120,
        "flatten": 0,
        "fc1": 10164,
        "output": 850,
    }
    assert sum(counts.values()) == 61_706


def test_lenet_starts_like_keras_glorot_kernels_and_zero_biases():
    weights = lenet(seed=0).get_weights()
    limit = np.sqrt(6 / (25 * 16 + 25 * 120))  # conv3: fan in 5*5*16, fan out 5*5*120
    assert np.abs(weights["conv3/kernel"]).max() <= limit
    assert all(not weights[f"{name}/bias"].any() for name in ("conv1", "fc1", "output"))
    assert all(w.dtype == np.float32 for w in weights.values())


def test_predict_gives_float32_probabilities_and_stores_nothing(rng):
    net = lenet(seed=0)
    images = rng.random((70, *INPUT_SHAPE), dtype=np.float32)
    probs = net.predict(images, batch_size=32)
    assert probs.shape == (70, 10) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(probs, net.predict(images, batch_size=128), atol=1e-7)
    np.testing.assert_allclose(probs, net.activations(images)["output"], atol=1e-7)
    assert not any(hasattr(layer, "output") for stage in net.stages for layer in stage.layers)


def test_predict_from_several_threads_at_once_matches_one_thread(rng):
    net = lenet(seed=0)
    batches = [rng.random((n, *INPUT_SHAPE), dtype=np.float32) for n in (1, 3, 70, 5) * 4]
    expected = [net.predict(batch) for batch in batches]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(net.predict, batches))
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_sequential_requires_a_final_softmax():
    with pytest.raises(ValueError, match="last layer must be a Softmax"):
        Sequential([Stage("fc", (Dense(3, 2),))], input_shape=(3,))


def test_predict_rejects_images_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"\(N, 28, 28, 1\)"):
        lenet().predict(np.zeros((1, 28, 28)))


def test_weights_round_trip_through_an_npz_file(tmp_path, rng):
    net = lenet(seed=1)
    path = tmp_path / "weights.npz"
    np.savez(path, **net.get_weights())
    loaded = load_lenet(path)
    images = rng.random((5, *INPUT_SHAPE), dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict(images), net.predict(images))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda w: w.pop("conv2/bias"), "missing weight 'conv2/bias'"),
        (lambda w: w.update({"fc2/kernel": np.zeros(3)}), "unexpected weight 'fc2/kernel'"),
        (lambda w: w.update({"fc1/kernel": np.zeros((84, 120))}), "'fc1/kernel' has shape"),
        (lambda w: w.update({"output/bias": np.full(10, np.nan)}), "'output/bias' has non-finite"),
        (
            lambda w: w.update({"fc1/bias": np.full(84, 1e39)}),  # float32's infinity
            "'fc1/bias' has non-finite values as float32",
        ),
        (lambda w: w.update({"conv1/bias": np.array(["a"] * 6)}), "'conv1/bias' has dtype"),
    ],
)
def test_set_weights_rejects_bad_entries_by_key_and_changes_nothing(change, message):
    net = lenet(seed=0)
    weights = net.get_weights()
    change(weights)
    with pytest.raises(ValueError, match=message):
        net.set_weights(weights)
    for key, value in lenet(seed=0).get_weights().items():
        np.testing.assert_array_equal(net.get_weights()[key], value)


def test_read_weights_rejects_a_file_that_is_not_an_npz_archive(tmp_path):
    path = tmp_path / "weights.npz"
    path.write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match="not a weights .npz archive"):
        read_weights(path)


def test_training_on_a_separable_problem_lowers_the_loss(rng):
    labels = rng.integers(0, 10, 200)
    images = rng.random((200, *INPUT_SHAPE), dtype=np.float32) * 0.2
    for i, label in enumerate(labels):  # each class lights its own horizontal band
        images[i, 4 + 2 * label : 6 + 2 * label, 4:24] = 1.0
    y_onehot = np.eye(10, dtype=np.float32)[labels]
    net = lenet(seed=0)
    optimizer = SGD(ExponentialDecay(0.1, decay_steps=20, decay_rate=0.9), momentum=0.9)
    before = evaluate(net, images, y_onehot)
    for _ in range(4):
        train_epoch(net, optimizer, images, y_onehot, batch_size=20, rng=rng)
    after = evaluate(net, images, y_onehot)
    assert after.loss < before.loss / 4
    assert after.accuracy > 0.9
