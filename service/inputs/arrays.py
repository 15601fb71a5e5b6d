"""JSON instances to tensors: a 28x28 (or 28x28x1) array of gray levels 0–255 in MNIST's
form, checked so that every mistake is named (shape, ragged row, non-number, NaN/Inf,
range) instead of surfacing as a 500 or a silently wrong answer."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from service.errors import InvalidInput, PayloadTooLarge
from service.inputs.mnist_form import SIZE

_NUMBER_TYPES = frozenset({int, float})  # of JSON numbers as parsed; bool is not one
_MAX_DEPTH = 8  # of JSON arrays: deep enough to report a mistaken shape like 1x28x28x1
_LENGTHS = (SIZE, SIZE, 1)  # a 28x28x1 array's length at each depth


JSON_SLACK = 1024
"""Commas a JSON body may hold past its images' gray levels: keys, parameters, outputs."""


def check_json_values(text: bytes, max_images: int) -> None:
    """Refuse JSON ``text`` with more values than ``max_images`` images of 28x28 gray levels
    hold, before it is parsed: parsing makes an object of each number, on the event loop,
    and a body of millions held every other request meanwhile, only to be refused after.
    Its commas bound its values (an array's elements less one; a few for keys; none in
    base64), and are counted in C, far faster than they are parsed."""
    most = max_images * SIZE * SIZE + JSON_SLACK
    if text.count(b",") > most:
        raise PayloadTooLarge(
            f"the JSON body holds more than {most} values: at most {max_images} images of "
            "28x28 gray levels a request (the limit on images)"
        )


def validate_array(values: object, *, plain: bool = False) -> np.ndarray:
    """Check a JSON instance: 28x28 (or 28x28x1) numbers in 0-255; float32 (28, 28) out.

    ``plain``: the caller has found ``is_plain_28x28`` true of ``values`` already, and the
    scan (a tenth of a small request's own work) is not repeated.

    Raises ``InvalidInput`` naming what is wrong: the shape received, the first ragged row,
    the first non-number, NaN/Inf, or values outside 0-255.
    """
    if plain or is_plain_28x28(values):  # the common case, in ~1/20 of the general walk's time
        array = _as_floats(values)
    else:
        shape = _nested_shape(values, "", depth=0)
        if shape not in ((SIZE, SIZE), (SIZE, SIZE, 1)):
            received = "x".join(str(n) for n in shape) if shape else "a single number"
            row = (
                " (one row of an image? each instance is a whole image)" if shape == (SIZE,) else ""
            )
            raise InvalidInput(
                f"expected a 28x28 (or 28x28x1) array of gray levels, got {received}{row}"
            )
        array = _as_floats(values).reshape(SIZE, SIZE)
    if not np.isfinite(array).all():
        row, col = np.argwhere(~np.isfinite(array))[0]
        raise InvalidInput(f"values must be finite numbers; [{row}][{col}] is {array[row, col]}")
    outside = (array < 0) | (array > 255)
    if outside.any():
        row, col = np.argwhere(outside)[0]
        raise InvalidInput(
            f"values must be gray levels in 0-255; [{row}][{col}] is {_number(array[row, col])}"
        )
    return array.astype(np.float32)


def _number(value: float) -> str:
    """``value`` as short as it reads back exactly: 1000 and 255.5, but 255.00002 whole,
    never rounded to a gray level it is not."""
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


def _as_floats(values: object) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except OverflowError as exc:  # an integer past float64's range, e.g. 1 and 400 zeros
        raise InvalidInput(
            "values must be gray levels in 0-255; one is an integer beyond a float's range"
        ) from exc


def is_plain_28x28(values: object) -> bool:
    """28 lists of 28 ints or floats (booleans excluded), as JSON decoders hand them over."""
    return (
        type(values) is list
        and len(values) == SIZE
        and all(type(row) is list and len(row) == SIZE for row in values)
        and set(map(type, itertools.chain.from_iterable(values))) <= _NUMBER_TYPES
    )


def _nested_shape(values: object, where: str, depth: int) -> tuple[int, ...]:
    """The shape of nested lists of numbers; ``InvalidInput`` if ragged or not numbers.

    A list of a length that no accepted shape has at its depth is walked down its first
    items only: the shape is wrong whatever the rest holds, and a flat list of millions of
    numbers then costs no more than one of 28.
    """
    if isinstance(values, Sequence) and not isinstance(values, str):
        if depth == _MAX_DEPTH:  # before Python's recursion limit turns it into a 500
            raise InvalidInput(f"array nested more than {_MAX_DEPTH} deep; expected 28x28")
        if depth >= len(_LENGTHS) or len(values) != _LENGTHS[depth]:
            inner = _nested_shape(values[0], f"{where}[0]", depth + 1) if values else ()
            return (len(values), *inner)
        shapes = [_nested_shape(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(values)]
        if any(shape != shapes[0] for shape in shapes):
            first = next(i for i, shape in enumerate(shapes) if shape != shapes[0])
            raise InvalidInput(
                f"ragged array: {where}[{first}] does not have the shape of {where}[0]"
            )
        return (len(values), *(shapes[0] if shapes else ()))
    if isinstance(values, bool) or not isinstance(values, int | float):
        raise InvalidInput(f"{where or 'the array'} must be a number, not {_json_type(values)}")
    return ()


def _json_type(value: object) -> str:
    """The JSON name of a parsed value's type, as a client would call it."""
    names = {bool: "a boolean", str: "a string", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)
