"""Tensors as the Open Inference Protocol carries them, both ways, for REST and gRPC alike.

In: a batch of MNIST-form digits as ``UINT8`` or ``FP32`` gray levels 0–255, shape
``[N, 28, 28, 1]`` or ``[N, 28, 28]``, the same scale ``/v1``'s JSON arrays use; or encoded
images as ``BYTES`` (``[N]``), each normalised as ``/v1`` normalises an upload. Out: the
datatypes' NumPy dtypes, and ``BYTES`` in the protocol's binary layout (each element's
length as 4 little-endian bytes, then its bytes).
"""

from __future__ import annotations

import math
import struct

import numpy as np

from service.errors import InvalidInput
from service.inputs.mnist_form import SIZE

DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
"""The protocol's fixed-size datatypes, little-endian as its binary data is."""
PIXEL_TYPES = frozenset({"UINT8", "FP32"})
"""The datatypes a digit's gray levels may come in."""


def element_count(shape: list[int]) -> int:
    if any(side < 0 for side in shape):
        raise InvalidInput(f"shape {shape} has a negative dimension")
    return math.prod(shape)  # Python's ints: no overflow, and no NumPy call on the hot path


def gray_levels(datatype: str, shape: list[int], values: np.ndarray) -> np.ndarray:
    """A pixel input's ``values`` (any layout, ``shape`` elements) → (N, 28, 28) float32
    gray levels, checked: datatype, shape, finite, within 0–255."""
    if datatype not in PIXEL_TYPES:
        raise InvalidInput(
            f"datatype {datatype} is not accepted for digits; send UINT8 or FP32 gray levels "
            "0-255, or BYTES of encoded images"
        )
    if len(shape) not in (3, 4) or shape[1:3] != [SIZE, SIZE] or shape[3:] not in ([], [1]):
        raise InvalidInput(f"shape {shape}: expected [N, 28, 28, 1] or [N, 28, 28]")
    if values.size != element_count(shape):
        raise InvalidInput(f"shape {shape} holds {element_count(shape)} values, not {values.size}")
    images = values.astype(np.float32, copy=False).reshape(shape[0], SIZE, SIZE)
    if images.size and not (0 <= images.min() and images.max() <= 255):  # NaN fails it too
        if not np.isfinite(images).all():
            raise InvalidInput("gray levels must be finite numbers")
        raise InvalidInput("gray levels must lie in 0-255, as MNIST's do")
    return images


def split_bytes(raw: bytes, most: int) -> list[bytes]:
    """The protocol's binary ``BYTES`` layout → its elements, refused past ``most`` of them:
    the loop runs in Python on the event loop, and 20 MB of empty elements are 5 million."""
    elements: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if len(elements) == most:
            raise InvalidInput(
                f"BYTES data holds more than its shape and the limit on images allow: {most} "
                "elements"
            )
        if offset + 4 > len(raw):
            raise InvalidInput("BYTES data ends inside an element's 4-byte length")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise InvalidInput("BYTES data ends inside an element")
        elements.append(raw[offset : offset + length])
        offset += length
    return elements


def join_bytes(elements: list[bytes]) -> bytes:
    """Elements → the protocol's binary ``BYTES`` layout."""
    return b"".join(struct.pack("<I", len(element)) + element for element in elements)
