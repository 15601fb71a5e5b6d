"""Hypothesis strategies for the property tests: arbitrary JSON, arbitrary and damaged image
files; and what such input may end in, the service's own client errors.

The example counts are bounded by the profile in tests/service/conftest.py.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from hypothesis import strategies as st
from PIL import Image

from service.errors import ServiceError

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-1, max_value=300)
    | st.sampled_from([2**64, 10**400, -(10**400)])  # JSON integers have no bound
    | st.floats()  # NaN and the infinities too: Python's json reads them
    | st.text(max_size=8)
)
TROUBLE = st.sampled_from(
    [math.nan, math.inf, -math.inf, 10**400, -1, 255.5, 256, True, None, "7", [], {}]
)
"""The values a gray level is most often wrong with."""
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=40,
)
"""Any JSON document, small."""


@st.composite
def grids(draw: st.DrawFn) -> list[object]:
    """A 28x28 array of gray levels with a few cells, rows or the shape gone wrong: the
    mistakes a client makes, near enough to valid to reach every check."""
    rows = draw(st.sampled_from([28] * 6 + [27, 29, 1]))
    cols = draw(st.sampled_from([28] * 6 + [27, 1]))
    cell = st.integers(0, 255) | st.floats(0, 255)
    grid: list[object] = [[draw(cell)] * cols for _ in range(rows)]
    for _ in range(draw(st.integers(0, 3))):  # cells first: a row may be replaced after
        row = grid[draw(st.integers(0, rows - 1))]
        assert isinstance(row, list)
        row[draw(st.integers(0, cols - 1))] = draw(TROUBLE | SCALARS)
    for _ in range(draw(st.integers(0, 1))):
        grid[draw(st.integers(0, rows - 1))] = draw(JSON)
    return grid


FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")


@st.composite
def image_files(draw: st.DrawFn) -> bytes:
    """A small image in an accepted format, then maybe damaged: truncated, bits flipped,
    bytes overwritten (a header's size, a chunk's length), or cut and spliced."""
    width, height = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    mode = draw(st.sampled_from(["L", "RGB", "RGBA", "P", "1", "I;16"]))
    fmt = draw(st.sampled_from(FORMATS))
    seed = draw(st.integers(0, 2**16))
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width), np.uint8)
    image = Image.fromarray(pixels).convert(mode)
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=fmt)
    except (OSError, ValueError):  # a mode the format cannot hold
        image.convert("RGB").save(buffer, format=fmt)
    data = bytearray(buffer.getvalue())
    for _ in range(draw(st.integers(0, 4))):
        damage = draw(st.sampled_from(["truncate", "flip", "overwrite", "splice"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if damage == "truncate":
            del data[at:]
        elif damage == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif damage == "overwrite":
            data[at : at + 4] = draw(st.binary(min_size=1, max_size=4))
        else:
            data[at:at] = draw(st.binary(max_size=64))
    return bytes(data)


BYTES = st.binary(max_size=2048) | image_files()
"""Arbitrary bytes, or an image file, whole or damaged."""


@contextmanager
def only_client_errors() -> Iterator[None]:
    """Whatever the input, the code under test returns, or raises one of the service's own
    errors with a 4xx status: never anything else, which would answer 500."""
    try:
        yield
    except ServiceError as error:
        assert 400 <= error.status_code < 500, f"{type(error).__name__}: {error.message}"
