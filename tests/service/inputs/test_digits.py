"""service.inputs.digits: which ink is a digit, on masks and contrast maps drawn here."""

from __future__ import annotations

import numpy as np
import pytest

from service.inputs.digits import find_digit

SHAPE = (300, 400)


def bar(
    mask: np.ndarray, contrast: np.ndarray, box: tuple[int, int, int, int], level: float
) -> None:
    top, bottom, left, right = box
    mask[top:bottom, left:right] = 1
    contrast[top:bottom, left:right] = level


@pytest.mark.parametrize(("level", "joined"), [(0.6, True), (0.2, False)])
def test_a_piece_near_a_stroke_joins_it_only_if_about_as_clear(level: float, joined: bool) -> None:
    """A dry pen's broken-off piece is as dark as the stroke; a hard shadow's sliver beside
    a digit is far fainter, and would shrink the digit in its 20x20 box."""
    mask, contrast = np.zeros(SHAPE, np.uint8), np.zeros(SHAPE, np.float32)
    bar(mask, contrast, (100, 200, 190, 205), 0.7)  # a 1
    bar(mask, contrast, (80, 92, 210, 250), level)  # a piece above and to its right
    region = find_digit(mask, contrast)
    assert region is not None and region.top == (80 if joined else 100)
    assert region.right == (250 if joined else 205)


def test_a_digit_the_frame_cuts_is_found_when_nothing_else_is() -> None:
    mask, contrast = np.zeros(SHAPE, np.uint8), np.zeros(SHAPE, np.float32)
    bar(mask, contrast, (150, 300, 190, 205), 0.7)  # runs into the bottom of the frame
    bar(mask, contrast, (150, 165, 150, 245), 0.7)  # a 7's bar, upside down: a cropped digit
    region = find_digit(mask, contrast)
    assert region is not None and (region.top, region.bottom) == (150, 300)


def test_a_band_along_the_frame_is_no_digit() -> None:
    mask, contrast = np.zeros(SHAPE, np.uint8), np.zeros(SHAPE, np.float32)
    bar(mask, contrast, (0, 300, 0, 60), 0.7)  # a desk along the left edge
    assert find_digit(mask, contrast) is None
