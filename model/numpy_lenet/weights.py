"""Reading the weight file shared by the Keras and NumPy networks.

``model.artifacts.save_weights`` writes it: a ``.npz`` archive with one float32 array per key
``"<layer>/kernel"`` and ``"<layer>/bias"`` for conv1, conv2, conv3, fc1 and output: Keras's
``layer.kernel`` / ``layer.bias`` as they are, which the NumPy layers use unchanged (same
channels-last layout). It is read without pickle, so a weight file can never run code.
"""

from __future__ import annotations

import zipfile
from os import PathLike

import numpy as np

from model.numpy_lenet.layers import Array
from model.numpy_lenet.network import Sequential, lenet


def read_weights(path: str | PathLike[str]) -> dict[str, Array]:
    """The arrays in a weight file by key; ValueError if it is not an .npz archive."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array")
        with loaded as archive:
            return {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, EOFError, ValueError) as error:
        raise ValueError(f"{path} is not a weights .npz archive: {error}") from error


def load_lenet(path: str | PathLike[str]) -> Sequential:
    """A LeNet with the weights in ``path``; ValueError naming any missing or misshapen key."""
    net = lenet()
    net.set_weights(read_weights(path))
    return net
