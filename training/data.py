"""MNIST loading: the canonical IDX ``.gz`` files from a folder, else Keras's downloader;
and the first images of it for quick runs."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

IDX_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
_IDX_DTYPES = {0x08: np.uint8}


class MnistUnavailable(RuntimeError):
    """Neither a data folder nor the download worked; the message names both options."""


@dataclass(frozen=True)
class Mnist:
    x_train: np.ndarray  # (N, 28, 28) uint8, 0 = background
    y_train: np.ndarray  # (N,) uint8
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    sha256: dict[str, str] = field(default_factory=dict)


def read_idx(path: Path) -> np.ndarray:
    """Parse one gzip-compressed IDX file (LeCun's format: big-endian header, raw bytes)."""
    raw = gzip.decompress(path.read_bytes())
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    dtype, ndim = raw[2], raw[3]
    if dtype not in _IDX_DTYPES:
        raise ValueError(f"{path}: unsupported IDX element type 0x{dtype:02x}")
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=_IDX_DTYPES[dtype], offset=header)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape} but holds {data.size} values")
    return data.reshape(shape)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as gzip-compressed IDX (for tests and small subsets)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    path.write_bytes(gzip.compress(header + array.tobytes()))


def load_from_dir(data_dir: Path) -> Mnist:
    missing = [name for name in IDX_FILES.values() if not (data_dir / name).is_file()]
    if missing:
        raise MnistUnavailable(_help(f"{data_dir} lacks {', '.join(missing)}"))
    arrays = {key: read_idx(data_dir / name) for key, name in IDX_FILES.items()}
    sha = {
        name: hashlib.sha256((data_dir / name).read_bytes()).hexdigest()
        for name in IDX_FILES.values()
    }
    return Mnist(**arrays, source=str(data_dir.resolve()), sha256=sha)


def load_from_keras() -> Mnist:
    """Download through ``keras.datasets.mnist`` (needs internet the first time)."""
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as exc:  # the downloader raises many kinds of network errors
        raise MnistUnavailable(
            _help(f"downloading with keras.datasets.mnist failed: {exc}")
        ) from exc
    return Mnist(x_train, y_train, x_test, y_test, source="keras.datasets.mnist")


def load_mnist(data_dir: Path | None) -> Mnist:
    return load_from_dir(data_dir) if data_dir is not None else load_from_keras()


def subset(data: Mnist, limit: int | None) -> Mnist:
    """The first ``limit`` training and ``limit // 6`` test images (MNIST's 6:1), or all."""
    if not limit:
        return data
    n_test = max(limit // 6, 1)
    return replace(
        data,
        x_train=data.x_train[:limit],
        y_train=data.y_train[:limit],
        x_test=data.x_test[:n_test],
        y_test=data.y_test[:n_test],
    )


def _help(reason: str) -> str:
    return (
        f"MNIST is not available: {reason}. Either pass --data-dir DIR (or set MNIST_DIR) "
        f"pointing at a folder with the four IDX files {', '.join(IDX_FILES.values())}, "
        "or run where keras.datasets.mnist can download it (needs internet)."
    )
