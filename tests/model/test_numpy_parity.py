"""The NumPy LeNet against the Keras one: same weights, same outputs, same gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from model.keras_lenet import build_lenet
from model.numpy_lenet import (
    SGD,
    Adam,
    AvgPool,
    Conv2D,
    Dense,
    ExponentialDecay,
    MaxPool,
    Softmax,
    SoftmaxCrossEntropy,
    lenet,
)
from model.spec import INPUT_SHAPE


def keras_weights(model: keras.Model) -> dict[str, np.ndarray]:
    """The weight-file dict: every layer's kernel and bias as they are."""
    weights = {}
    for layer in model.layers:
        if layer.weights:
            weights[f"{layer.name}/kernel"] = keras.ops.convert_to_numpy(layer.kernel)
            weights[f"{layer.name}/bias"] = keras.ops.convert_to_numpy(layer.bias)
    return weights


def set_keras_weights(model: keras.Model, weights: dict[str, np.ndarray]) -> None:
    for layer in model.layers:
        if layer.weights:
            layer.kernel.assign(weights[f"{layer.name}/kernel"].astype(layer.kernel.dtype))
            layer.bias.assign(weights[f"{layer.name}/bias"].astype(layer.bias.dtype))


def build_lenet_float64() -> keras.Model:
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        return build_lenet()
    finally:
        keras.config.set_dtype_policy(before)


@pytest.fixture(scope="module")
def keras_model() -> keras.Model:
    """Keras's own Glorot kernels, seeded; biases random too so that they are exercised."""
    keras.utils.set_random_seed(0)
    model = build_lenet()
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if layer.weights:
            layer.bias.assign(rng.normal(0, 0.1, layer.bias.shape).astype(np.float32))
    return model


@pytest.fixture(scope="module")
def weights(keras_model) -> dict[str, np.ndarray]:
    return keras_weights(keras_model)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(1).random((200, *INPUT_SHAPE), dtype=np.float32)


def test_numpy_lenet_probabilities_match_keras(weights, keras_model, images):
    net = lenet()
    net.set_weights(weights)
    expected = keras.ops.convert_to_numpy(keras_model(images))
    probs = net.predict(images)
    np.testing.assert_allclose(probs, expected, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(probs.argmax(axis=1), expected.argmax(axis=1))


def test_numpy_lenet_every_named_activation_matches_keras(weights, keras_model, images):
    net = lenet()
    net.set_weights(weights)
    acts = net.activations(images)
    outputs = images
    for layer in keras_model.layers:
        outputs = layer(outputs)
        np.testing.assert_allclose(
            acts[layer.name],
            keras.ops.convert_to_numpy(outputs),
            rtol=0,
            atol=1e-5,
            err_msg=layer.name,
        )


def test_numpy_lenet_gradients_match_gradient_tape(weights, images):
    """Float64 on both sides, so any difference is the implementations', not rounding's: hence
    a relative tolerance of 1e-9 rather than float32's 1e-5."""
    model = build_lenet_float64()
    set_keras_weights(model, weights)
    net = lenet(dtype=np.float64)
    net.set_weights(weights)
    x = images[:32].astype(np.float64)
    y_onehot = np.eye(10)[np.random.default_rng(2).integers(0, 10, len(x))]

    x_tensor = tf.constant(x)
    variables = {}
    for layer in model.layers:
        if layer.weights:
            variables[f"{layer.name}/kernel"] = layer.kernel
            variables[f"{layer.name}/bias"] = layer.bias
    with tf.GradientTape() as tape:
        tape.watch(x_tensor)
        outputs = x_tensor
        for layer in model.layers:  # layer by layer: model() would cast the inputs to float32
            outputs = layer(outputs)
        loss = keras.ops.mean(keras.losses.categorical_crossentropy(y_onehot, outputs))
    grads = tape.gradient(loss, [x_tensor, *variables.values()])
    expected = dict(zip(["inputs", *variables], grads, strict=True))

    loss_fn = SoftmaxCrossEntropy()
    probs = net.forward(x, training=True)
    dinputs = net.backward(loss_fn.backward(probs, y_onehot))
    assert loss_fn.forward(probs, y_onehot) == pytest.approx(float(loss), rel=1e-12)
    got = {"inputs": dinputs}
    for stage in net.stages:
        for layer in stage.layers:
            if isinstance(layer, Conv2D | Dense):
                got[f"{stage.name}/kernel"] = layer.dweights
                got[f"{stage.name}/bias"] = layer.dbiases
    assert got.keys() == expected.keys()
    for key, grad in expected.items():
        np.testing.assert_allclose(
            got[key], keras.ops.convert_to_numpy(grad), rtol=1e-9, atol=1e-15, err_msg=key
        )


@pytest.mark.parametrize(
    ("in_channels", "size", "stride", "padding"),
    [
        (1, 28, 1, "same"),
        (3, 8, 2, "same"),
        (2, 9, 3, "same"),
        (4, 11, 2, "valid"),
        (1, 5, 3, "valid"),
    ],
)
def test_conv2d_matches_keras(in_channels, size, stride, padding):
    rng = np.random.default_rng(3)
    layer = keras.layers.Conv2D(5, 3, strides=stride, padding=padding)
    inputs = rng.standard_normal((2, size, size + 1, in_channels)).astype(np.float32)
    layer.build(inputs.shape)
    layer.bias.assign(rng.standard_normal(5).astype(np.float32))
    conv = Conv2D(in_channels, 5, 3, stride=stride, padding=padding)
    conv.weights = keras.ops.convert_to_numpy(layer.kernel)
    conv.biases = keras.ops.convert_to_numpy(layer.bias)
    expected = keras.ops.convert_to_numpy(layer(inputs))
    np.testing.assert_allclose(conv.forward(inputs), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [(AvgPool(2), keras.layers.AveragePooling2D(2)), (MaxPool(3), keras.layers.MaxPooling2D(3))],
)
def test_pooling_matches_keras_with_cropped_edges(ours, theirs):
    inputs = np.random.default_rng(4).standard_normal((2, 7, 11, 3)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(theirs(inputs))
    np.testing.assert_allclose(ours.forward(inputs), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours.forward(inputs, training=False), expected, rtol=1e-6, atol=1e-6)


ADAM = {"beta_1": 0.875, "beta_2": 1 - 2**-10, "epsilon": 2**-20}


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (
            lambda: SGD(ExponentialDecay(0.5, decay_steps=2, decay_rate=0.5), momentum=0.875),
            lambda: keras.optimizers.SGD(
                keras.optimizers.schedules.ExponentialDecay(0.5, 2, 0.5), momentum=0.875
            ),
        ),
        (
            lambda: Adam(ExponentialDecay(0.25, 3, 0.5, staircase=True), **ADAM),
            lambda: keras.optimizers.Adam(
                keras.optimizers.schedules.ExponentialDecay(0.25, 3, 0.5, staircase=True), **ADAM
            ),
        ),
    ],
    ids=["sgd-momentum-exponential-decay", "adam-staircase-decay"],
)
def test_optimizer_steps_match_keras_on_softmax_regression(ours, theirs):
    """In float64, since Adam's m / sqrt(v) magnifies rounding in small gradients, and with
    hyperparameters exact in float32, in which Keras keeps them (0.9 would be 0.899999976); its
    schedule computes in float32 too, about 2e-8 off."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((16, 4))
    y_onehot = np.eye(3)[rng.integers(0, 3, 16)]
    dense = Dense(4, 3, rng=rng, dtype=np.float64)
    kernel = keras.Variable(dense.weights.copy(), dtype="float64")
    bias = keras.Variable(dense.biases.copy(), dtype="float64")
    optimizer, keras_optimizer = ours(), theirs()
    loss_fn, softmax = SoftmaxCrossEntropy(), Softmax()
    for _ in range(6):
        probs = softmax.forward(dense.forward(x))
        dense.backward(loss_fn.backward(probs, y_onehot))
        optimizer.step([dense])

        with tf.GradientTape() as tape:
            probs = keras.ops.softmax(keras.ops.matmul(x, kernel) + bias)
            loss = keras.ops.mean(keras.losses.categorical_crossentropy(y_onehot, probs))
        grads = tape.gradient(loss, [kernel, bias])
        keras_optimizer.apply_gradients(zip(grads, [kernel, bias], strict=True))

        np.testing.assert_allclose(dense.weights, kernel.numpy(), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(dense.biases, bias.numpy(), rtol=1e-6, atol=1e-8)
