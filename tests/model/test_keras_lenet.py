from model.keras_lenet import build_lenet
from model.spec import LAYER_NAMES

EXPECTED = {
    "conv1": ((None, 28, 28, 6), 156),
    "pool1": ((None, 14, 14, 6), 0),
    "conv2": ((None, 10, 10, 16), 2416),
    "pool2": ((None, 5, 5, 16), 0),
    "conv3": ((None, 1, 1, 120), 48120),
    "flatten": ((None, 120), 0),
    "fc1": ((None, 84), 10164),
    "output": ((None, 10), 850),
}


def test_lenet_has_the_lectures_layers_in_order():
    model = build_lenet()
    assert tuple(layer.name for layer in model.layers) == LAYER_NAMES == tuple(EXPECTED)


def test_lenet_layer_shapes_and_parameter_counts_match_the_lecture():
    model = build_lenet()
    for layer in model.layers:
        shape, params = EXPECTED[layer.name]
        assert tuple(layer.output.shape) == shape, layer.name
        assert layer.count_params() == params, layer.name
    assert model.count_params() == 61_706


def test_lenet_activations_are_tanh_then_softmax():
    activations = {
        layer.name: layer.get_config().get("activation") for layer in build_lenet().layers
    }
    assert [activations[n] for n in ("conv1", "conv2", "conv3", "fc1")] == ["tanh"] * 4
    assert activations["output"] == "softmax"
