"""The lecture's LeNet in Keras (after LeCun, Bottou, Bengio & Haffner, 1998).

Layer names are part of the API: the service exposes activations under them and the
weight file is keyed by them, so the NumPy twin in ``model.numpy_lenet`` can load it.
"""

from __future__ import annotations

import keras
from keras import layers

from model.spec import INPUT_SHAPE, NUM_CLASSES


def build_lenet() -> keras.Sequential:
    """Conv 6@5x5 same → avg-pool → conv 16@5x5 → avg-pool → conv 120@5x5/3 → 84 → 10.

    Inputs are gray levels scaled to [0, 1], light digit on dark background, as in MNIST.
    """
    return keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE, name="image"),
            layers.Conv2D(6, 5, padding="same", activation="tanh", name="conv1"),  # 28x28x6
            layers.AveragePooling2D(2, strides=2, name="pool1"),  # 14x14x6
            layers.Conv2D(16, 5, padding="valid", activation="tanh", name="conv2"),  # 10x10x16
            layers.AveragePooling2D(2, strides=2, name="pool2"),  # 5x5x16
            layers.Conv2D(120, 5, strides=3, padding="valid", activation="tanh", name="conv3"),
            layers.Flatten(name="flatten"),  # 120
            layers.Dense(84, activation="tanh", name="fc1"),
            layers.Dense(NUM_CLASSES, activation="softmax", name="output"),
        ],
        name="lenet",
    )
