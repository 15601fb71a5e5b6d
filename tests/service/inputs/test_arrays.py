"""service.inputs.arrays: JSON 28x28 arrays checked, every mistake named."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from service.errors import InvalidInput
from service.inputs.arrays import is_plain_28x28, validate_array


def grid(value: object = 0.0, rows: int = 28, cols: int = 28) -> list[list[object]]:
    return [[value] * cols for _ in range(rows)]


def test_validate_array_accepts_28x28_numbers() -> None:
    values = grid(0)
    values[3][4] = 255.0
    array = validate_array(values)
    assert array.dtype == np.float32 and array.shape == (28, 28) and array[3, 4] == 255


def test_validate_array_accepts_28x28x1() -> None:
    values = [[[float(col)] for col in range(28)] for _ in range(28)]
    array = validate_array(values)
    assert array.shape == (28, 28) and array[0, 27] == 27


def test_validate_array_accepts_tuples_as_a_python_caller_sends_them() -> None:
    values = tuple(tuple(float(row) for _ in range(28)) for row in range(28))
    array = validate_array(values)
    assert array.shape == (28, 28) and array[27, 0] == 27


@pytest.mark.parametrize(
    ("values", "received"),
    [
        (grid(rows=27), "got 27x28"),
        ([0.0] * 784, "got 784"),
        ([grid()], "got 1x28x28"),
        ([[[0.0, 0.0]] * 28] * 28, "got 28x28x2"),
        (7, "got a single number"),
        ([], "got 0"),
    ],
    ids=["27x28", "flat-784", "batch-1x28x28", "two-channels", "scalar", "empty"],
)
def test_validate_array_rejects_wrong_shape_naming_it(values: object, received: str) -> None:
    with pytest.raises(InvalidInput, match=received):
        validate_array(values)


def test_validate_array_rejects_ragged_rows() -> None:
    values = grid()
    values[5] = values[5][:-1]
    with pytest.raises(InvalidInput, match=r"ragged array: \[5\]"):
        validate_array(values)


@pytest.mark.parametrize(
    ("value", "json_type"),
    [("12", "a string"), (None, "null"), ({"v": 1}, "an object"), (True, "a boolean")],
)
def test_validate_array_rejects_non_numbers(value: object, json_type: str) -> None:
    values = grid()
    values[2][7] = value
    with pytest.raises(InvalidInput, match=rf"\[2\]\[7\] must be a number, not {json_type}"):
        validate_array(values)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_validate_array_rejects_nan_and_infinity(value: float) -> None:
    values = grid()
    values[0][1] = value
    with pytest.raises(InvalidInput, match=r"finite.*\[0\]\[1\]"):
        validate_array(values)


@pytest.mark.parametrize("plain", [False, True], ids=["checked", "known-plain"])
@pytest.mark.parametrize("value", [-1, 255.5, 1000])
def test_validate_array_rejects_values_outside_0_255(value: float, plain: bool) -> None:
    """Also when the caller vouches for the shape: ``plain`` skips the scan, not the checks."""
    values = grid()
    values[27][27] = value
    with pytest.raises(InvalidInput, match=r"0-255; \[27\]\[27\]"):
        validate_array(values, plain=plain)


@pytest.mark.parametrize(
    ("value", "shown"), [(255.00002, "255.00002"), (255.5, "255.5"), (1000, "1000"), (-1, "-1")]
)
def test_validate_array_names_a_value_outside_0_255_as_sent_not_rounded(
    value: float, shown: str
) -> None:
    values = grid()
    values[0][0] = value
    with pytest.raises(InvalidInput, match=rf"\[0\]\[0\] is {re.escape(shown)}$"):
        validate_array(values)


def test_validate_array_rejects_deep_nesting_without_recursing_forever() -> None:
    values: object = 0.0
    for _ in range(5000):
        values = [values]
    with pytest.raises(InvalidInput, match="nested"):
        validate_array(values)


def test_is_plain_28x28_takes_lists_of_ints_and_floats() -> None:
    values = grid(0)
    values[0][0] = 12.5
    assert is_plain_28x28(values)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(grid(True), id="booleans"),
        pytest.param(grid("0"), id="strings"),
        pytest.param(grid(rows=27), id="27-rows"),
        pytest.param(grid(cols=29), id="29-columns"),
        pytest.param([[[0.0]] * 28] * 28, id="28x28x1"),
        pytest.param([tuple(row) for row in grid()], id="tuple-rows"),
        pytest.param(np.zeros((28, 28)), id="numpy-array"),
    ],
)
def test_is_plain_28x28_leaves_everything_else_to_the_full_check(values: object) -> None:
    assert not is_plain_28x28(values)
