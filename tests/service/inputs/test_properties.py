"""service.inputs under arbitrary input (hypothesis): the decoders and the normaliser either
give what the network reads or refuse with the service's own 4xx errors, never anything else
(which would answer 500)."""

from __future__ import annotations

import asyncio

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from service.inputs import ink, photos
from service.inputs.arrays import validate_array
from service.inputs.images import Picture, decode_image
from service.inputs.pixel_limits import ImageLimits
from service.inputs.prepare import Digits, Preprocess, to_digits, to_number
from tests.service.fuzzing import BYTES, JSON, grids, only_client_errors

MAX_PIXELS = 1_000_000
LIMITS = ImageLimits(MAX_PIXELS, MAX_PIXELS, MAX_PIXELS)
PREPROCESS = st.sampled_from([None, Preprocess.mnist, Preprocess.none])
SIDES = st.integers(1, 120)
GRAY = arrays(
    np.uint8,
    st.tuples(SIDES, SIDES),
    elements=st.integers(0, 255),
    fill=st.integers(0, 255),  # mostly one level, with some pixels drawn: paper and marks
)


def assert_network_input(digits: Digits, count: int) -> None:
    assert digits.images.shape == (count, 28, 28, 1) and digits.images.dtype == np.float32
    assert np.isfinite(digits.images).all()
    assert digits.images.min() >= 0 and digits.images.max() <= 1 + 1e-6  # float32 rounding
    assert len(digits.boxes) == len(digits.images)


def assert_digit(digit: photos.Digit, picture: Picture) -> None:
    assert digit.tensor.shape == (28, 28) and np.isfinite(digit.tensor).all()
    assert digit.tensor.min() >= 0 and digit.tensor.max() <= 255 + 1e-3
    assert digit.box is not None
    x, y, width, height = digit.box
    assert 0 <= x and 0 <= y and width > 0 and height > 0
    assert x + width <= picture.size[0] + 1 and y + height <= picture.size[1] + 1


@given(BYTES)
def test_decode_image_reads_or_refuses_any_bytes(data: bytes) -> None:
    with only_client_errors():
        picture = decode_image(data, max_pixels=MAX_PIXELS, at_least=ink.WORKING_SIDE)
        assert picture.gray.dtype == np.uint8 and picture.gray.ndim == 2
        assert min(picture.gray.shape) >= 1 and min(picture.size) >= 1


@given(JSON | grids())
@example([[10**400] + [0] * 27] + [[0] * 28] * 27)  # was a 500: past float64's range
def test_validate_array_takes_or_names_any_json(values: object) -> None:
    with only_client_errors():
        array = validate_array(values)
        assert array.shape == (28, 28) and array.dtype == np.float32
        assert np.isfinite(array).all() and array.min() >= 0 and array.max() <= 255


def eager_to_cut(tensors: np.ndarray) -> np.ndarray:
    """A network that reads the first of its inputs (a group) unsurely and the rest (its
    two sides) surely: every candidate of ``read_number``'s judge is cut."""
    assert tensors.shape[1:] == (28, 28, 1) and tensors.dtype == np.float32
    probabilities = np.zeros((len(tensors), 10), np.float32)
    probabilities[:, 1] = 1.0
    probabilities[0] = 0.1
    return probabilities


@settings(max_examples=60)
@given(GRAY)
def test_the_normaliser_reads_any_picture_without_failing(gray: np.ndarray) -> None:
    picture = Picture(gray, (gray.shape[1], gray.shape[0]))
    digit = photos.read_digit(picture)
    if digit is not None:
        assert_digit(digit, picture)
    for found in photos.read_number(picture, lambda t: eager_to_cut(t[..., None] / 255)):
        assert_digit(found, picture)
    assert photos.as_is(picture).tensor.shape == (28, 28)


@given(st.lists(BYTES | JSON | grids(), min_size=1, max_size=3), PREPROCESS)
def test_to_digits_gives_the_network_input_or_a_client_error(
    inputs: list[bytes | object], preprocess: Preprocess | None
) -> None:
    with only_client_errors():
        digits = asyncio.run(to_digits(inputs, preprocess, limits=LIMITS))  # type: ignore[arg-type]
        assert_network_input(digits, len(inputs))


@given(BYTES | JSON)
def test_to_number_gives_digits_or_a_client_error(item: bytes | object) -> None:
    with only_client_errors():
        number = to_number(item, limits=LIMITS, predict=eager_to_cut)  # type: ignore[arg-type]
        digits = asyncio.run(number)
        assert_network_input(digits, len(digits.images))
        assert len(digits.images) >= 1
