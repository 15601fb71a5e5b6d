"""Write a trained Keras LeNet as one complete, atomically published model version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from model import artifacts
from model.onnx_lenet import build_onnx
from model.spec import INPUT_SHAPE, LAYER_NAMES
from training.report import plot_curves


def keras_weights(model: keras.Model) -> dict[str, Any]:
    """Every weight keyed "<layer>/kernel" and "<layer>/bias", framework-free."""
    return {
        f"{layer.name}/{weight.path.split('/')[-1]}": weight.numpy()
        for layer in model.layers
        for weight in layer.weights
    }


def architecture(model: keras.Model) -> dict[str, Any]:
    """The layer table that /v1/model serves, read off the Keras model itself.

    Written beside the weights so the service can describe the model without Keras.
    """
    keys = ("activation", "filters", "kernel_size", "strides", "padding", "pool_size", "units")
    layers = []
    for layer in model.layers:
        config = layer.get_config()
        layers.append(
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "output_shape": list(layer.output.shape[1:]),
                "parameters": layer.count_params(),
                **{key: config[key] for key in keys if key in config},
            }
        )
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    return {
        "input_shape": list(INPUT_SHAPE),
        "layers": layers,
        "total_parameters": model.count_params(),
        "trainable_parameters": trainable,
    }


def export_saved_model(model: keras.Model, directory: Path) -> None:
    """A SavedModel with ``serve`` (probabilities) and ``activations`` (every layer) endpoints.

    ``serve`` is what ``model.export`` writes (and TF Serving calls); ``activations`` lets the
    service show every layer's output from the same artifact, without Keras at serving time.
    """
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    outputs, x = {}, inputs
    for layer in model.layers:
        x = layer(x)
        outputs[layer.name] = x
    probe = keras.Model(inputs, outputs, name="lenet_activations")

    signature = [tf.TensorSpec((None, *INPUT_SHAPE), tf.float32, name="image")]
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda image: model(image, training=False), signature)
    archive.add_endpoint("activations", lambda image: probe(image, training=False), signature)
    archive.write_out(str(directory), verbose=False)


def export_version(
    model: keras.Model,
    root: Path,
    version: int,
    *,
    history: dict[str, list[float]],
    card: dict[str, Any],
    blessing: artifacts.Blessing,
) -> Path:
    """Fill a staging folder with every file of the version, then publish it in one rename:
    its blessing with it, so no service sees the version before it is judged."""
    assert tuple(layer.name for layer in model.layers) == LAYER_NAMES
    with artifacts.writing_version(root, version) as staging:
        export_saved_model(model, staging)
        model.save(staging / artifacts.KERAS_FILE)
        weights = keras_weights(model)
        artifacts.save_weights(staging / artifacts.WEIGHTS_FILE, weights)
        (staging / artifacts.ONNX_FILE).write_bytes(build_onnx(weights))
        onnx_activations = build_onnx(weights, activations=True)
        (staging / artifacts.ONNX_ACTIVATIONS_FILE).write_bytes(onnx_activations)
        artifacts.write_json(staging / artifacts.ARCHITECTURE_FILE, architecture(model))
        artifacts.write_json(staging / artifacts.HISTORY_FILE, history)
        title = f"LeNet v{version} ({card['recipe']['name']})"
        plot_curves(history, staging / artifacts.CURVES_FILE, title)
        artifacts.write_json(staging / artifacts.METRICS_FILE, card)
        artifacts.record_blessing(staging, blessing)
    return root / str(version)
