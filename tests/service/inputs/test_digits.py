"""service.inputs.digits: which ink is a digit, on masks and contrast maps drawn here."""

from __future__ import annotations

import numpy as np
import pytest

from service.inputs.digits import Region, find_digit, find_number

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


def two_ones_touching() -> np.ndarray:
    """Two 1s 100 px tall, joined by a thin stroke: 90 px wide in all, narrower than the
    widest single digits (1.15 of the row's height), so the shape alone says one digit."""
    mask, contrast = np.zeros(SHAPE, np.uint8), np.zeros(SHAPE, np.float32)
    bar(mask, contrast, (100, 200, 150, 164), 0.7)
    bar(mask, contrast, (100, 200, 226, 240), 0.7)
    bar(mask, contrast, (148, 151, 164, 226), 0.7)
    return mask


def judge_saying(whole: float, left: float, right: float):
    def judge(regions: list[Region]) -> list[float]:
        assert len(regions) == 3  # the group, then its two sides
        return [whole, left, right]

    return judge


@pytest.mark.parametrize(
    ("sureness", "count"),
    [
        pytest.param(None, 1, id="no-network-the-shape-decides"),
        pytest.param((0.5, 0.99, 0.98), 2, id="two-sure-digits"),
        pytest.param((0.95, 0.99, 0.99), 1, id="the-whole-is-a-sure-digit"),
        pytest.param((0.5, 0.99, 0.6), 1, id="one-side-is-no-digit"),
        pytest.param((0.85, 0.92, 0.92), 1, id="the-sides-together-less-sure"),
    ],
)
def test_touching_digits_a_digit_wide_are_cut_only_if_the_network_reads_two(
    sureness: tuple[float, float, float] | None, count: int
) -> None:
    judge = None if sureness is None else judge_saying(*sureness)
    regions = find_number(two_ones_touching(), judge)
    assert len(regions) == count
    if count == 2:
        left, right = regions  # cut through the joining stroke, each 1 whole on its side
        assert (left.left, right.right) == (150, 240) and left.right <= right.left
        assert left.height == right.height == 100
