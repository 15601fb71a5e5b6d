"""MNIST loading: the canonical IDX ``.gz`` files from a folder, else Keras's downloader;
and the first images of it for quick runs."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from model.spec import INPUT_SHAPE, NUM_CLASSES

IDX_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
_IDX_DTYPES = {0x08: np.uint8}
MIN_TRAINING_IMAGES = 2
"""One to fit and one to validate on: both trainers score a held-out split every epoch."""


class MnistUnavailable(RuntimeError):
    """Neither a data folder nor the download worked, or the folder's files are not MNIST;
    the message names the file at fault and both options."""


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
    if len(raw) < header:
        raise ValueError(f"{path}: the header of {ndim} dimensions is cut short")
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
    """The four IDX files in ``data_dir``, checked now so that a bad file stops the job
    before training rather than after it."""
    missing = [name for name in IDX_FILES.values() if not (data_dir / name).is_file()]
    if missing:
        raise MnistUnavailable(_help(f"{data_dir} lacks {', '.join(missing)}"))
    arrays = {key: _read(data_dir / name) for key, name in IDX_FILES.items()}
    for split, least in (("train", MIN_TRAINING_IMAGES), ("test", 1)):
        problem = _split_problem(arrays[f"x_{split}"], arrays[f"y_{split}"], least)
        if problem:
            files = f"{IDX_FILES[f'x_{split}']} and {IDX_FILES[f'y_{split}']}"
            raise MnistUnavailable(_help(f"{files} in {data_dir} {problem}"))
    sha = {
        name: hashlib.sha256((data_dir / name).read_bytes()).hexdigest()
        for name in IDX_FILES.values()
    }
    return Mnist(**arrays, source=str(data_dir.resolve()), sha256=sha)


def _read(path: Path) -> np.ndarray:
    """``read_idx``, with a truncated download or an error page saved as ``.gz`` reported as
    unavailable data (naming the file) rather than as a crash."""
    try:
        return read_idx(path)
    except ValueError as exc:  # read_idx's own, which name the file
        raise MnistUnavailable(_help(str(exc))) from exc
    except (OSError, EOFError, zlib.error) as exc:  # gzip's BadGzipFile is an OSError
        raise MnistUnavailable(_help(f"cannot read {path}: {exc}")) from exc


def _split_problem(images: np.ndarray, labels: np.ndarray, least: int) -> str | None:
    """What keeps images and labels from being (N, 28, 28) images and N labels 0-9, N at
    least ``least``: what training assumes, so that swapped or foreign files stop the job
    here instead of in the middle of a run."""
    if images.ndim != 3 or images.shape[1:] != INPUT_SHAPE[:2] or labels.ndim != 1:
        return f"hold shapes {images.shape} and {labels.shape}, not (N, 28, 28) and (N,)"
    if len(images) != len(labels):
        return f"hold {len(images)} images but {len(labels)} labels"
    if len(images) < least:
        return f"hold {len(images)} images, fewer than {least}"
    if labels.max() >= NUM_CLASSES:
        return f"hold label {labels.max()}, outside 0-{NUM_CLASSES - 1}"
    return None


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
    if limit is None:
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
