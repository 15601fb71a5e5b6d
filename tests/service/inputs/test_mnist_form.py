"""service.inputs.mnist_form: a digit's ink in MNIST's form, as MNIST itself was made."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from PIL import Image

from service.api.examples import EXAMPLE_ARRAY
from service.inputs.mnist_form import (
    BOX,
    SIZE,
    center_by_mass,
    even_strokes,
    fit_box,
    mnist_form,
    refit,
    stroke_width,
)
from tests.service.drawing import draw_digit


def ink_of(image: Image.Image) -> np.ndarray:
    """A drawing's ink as the photo module hands it over: float32 0 paper .. 1 ink, cropped."""
    ink = (255 - np.asarray(image.convert("L"), dtype=np.float32)) / 255
    rows, cols = np.nonzero(ink.max(axis=1))[0], np.nonzero(ink.max(axis=0))[0]
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def center_of_mass(digit: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(digit.shape)
    total = digit.sum()
    return float((rows * digit).sum() / total), float((cols * digit).sum() / total)


def ink_extent(pixels: np.ndarray) -> tuple[int, int]:
    """(height, width) of the bounding box of the nonzero pixels."""
    rows, cols = np.nonzero(pixels)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def box_width(ink: np.ndarray) -> float:
    """The stroke width as ``even_strokes`` judges it: in pixels of the 20x20 box."""
    return stroke_width(ink) * BOX / max(ink.shape)


def bar(width: float, length: int = 200, *, soft: float = 0.0) -> np.ndarray:
    """A vertical bar ``width`` px wide on a margin of paper; ``soft``: its edges' blur."""
    ink = np.zeros((length + 40, round(width) + 40), np.float32)
    ink[20 : 20 + length, 20 : 20 + round(width)] = 1
    return cv2.GaussianBlur(ink, (0, 0), soft) if soft else ink


# mnist_form


def test_mnist_form_returns_float32_28x28_gray_levels_peaking_at_255() -> None:
    digit = mnist_form(ink_of(draw_digit(5)))
    assert digit.dtype == np.float32 and digit.shape == (SIZE, SIZE)
    assert digit.min() >= 0 and digit.max() == pytest.approx(255)
    assert digit[0, 0] == 0  # light on dark


@pytest.mark.parametrize("digit", range(10))
@pytest.mark.parametrize("pen", [None, 6, 40], ids=["own-pen", "fine-pen", "marker"])
def test_mnist_form_puts_center_of_mass_within_a_pixel_of_14_14(
    digit: int, pen: int | None
) -> None:
    rows, cols = center_of_mass(mnist_form(ink_of(draw_digit(digit, (300, 260), stroke=pen))))
    assert abs(rows - 14) <= 1 and abs(cols - 14) <= 1


@pytest.mark.parametrize("digit", range(10))
def test_mnist_form_fits_ink_in_20x20_box_touching_it_on_the_long_side(digit: int) -> None:
    height, width = ink_extent(mnist_form(ink_of(draw_digit(digit))))
    assert max(height, width) == BOX and min(height, width) <= BOX


@pytest.mark.parametrize(
    "image",
    [draw_digit(0), draw_digit(1), draw_digit(1).rotate(90, expand=True, fillcolor=255)],
    ids=["tall-0", "narrow-1", "lying-1"],
)
def test_mnist_form_preserves_aspect_ratio(image: Image.Image) -> None:
    source_height, source_width = ink_extent(255 - np.asarray(image))
    height, width = ink_extent(mnist_form(ink_of(image)))
    assert math.isclose(width / height, source_width / source_height, abs_tol=1.5 / BOX)


def test_mnist_form_of_a_plain_one_stays_within_255() -> None:
    """A "1" whose peak the stretch once took to 255.00002: the API's input then passed 1,
    and the page, sending it back as gray levels, was refused with a 422."""
    paper = np.full((280, 280), 255, np.uint8)
    cv2.line(paper, (140, 40), (140, 240), 0, 6, cv2.LINE_AA)
    digit = mnist_form(ink_of(Image.fromarray(paper)))
    assert digit.max() == 255


@pytest.mark.parametrize("shape", [(3, 400), (400, 3), (1, 60), (60, 1)])
def test_mnist_form_survives_extreme_aspect_ratios(shape: tuple[int, int]) -> None:
    digit = mnist_form(np.ones(shape, np.float32))
    assert digit.shape == (SIZE, SIZE) and digit.max() > 0


# fit_box


def test_fit_box_crops_to_the_ink_not_its_faint_halo() -> None:
    ink = np.zeros((100, 100), np.float32)
    ink[30:70, 40:60] = 1  # 40 tall, 20 wide
    ink[10:90, 10:90] = np.maximum(ink[10:90, 10:90], 0.1)  # a halo, 80x80
    fitted = fit_box(ink, edge=0.25)
    assert fitted.shape == (BOX, BOX // 2)
    assert fitted.max() == pytest.approx(255)


def test_fit_box_stretches_any_peak_to_255_exactly_never_past_it() -> None:
    for peak in np.linspace(0.05, 1, 400, dtype=np.float32):
        fitted = fit_box(bar(6) * peak, edge=0.0)
        assert fitted.max() == 255, peak


def test_fit_box_with_no_edge_keeps_every_inked_pixel() -> None:
    ink = np.zeros((100, 100), np.float32)
    ink[30:70, 40:60] = 1
    ink[10:90, 10:90] = np.maximum(ink[10:90, 10:90], 0.1)
    assert fit_box(ink, edge=0.0).shape == (BOX, BOX)


def test_fit_box_enlarges_a_small_digit_to_the_box() -> None:
    ink = ink_of(draw_digit(7, (20, 20)))  # about 12 px tall
    assert max(fit_box(ink, edge=0.25).shape) == BOX


def test_refit_gives_an_mnist_digit_back_as_it_was() -> None:
    mnist_digit = np.array(EXAMPLE_ARRAY, np.float32)  # MNIST's first test digit
    refitted = refit(mnist_digit.astype(np.float32) / 255)
    assert np.abs(refitted - mnist_digit).max() < 1.0


# center_by_mass


@pytest.mark.parametrize("side", [3, 5, 11])
def test_center_by_mass_puts_a_symmetric_blob_on_14_14(side: int) -> None:
    placed = center_by_mass(np.full((side, side), 255, np.float32))
    assert center_of_mass(placed) == (14.0, 14.0)


def test_center_by_mass_follows_the_mass_not_the_box() -> None:
    # An L: its box is centred on (14, 14) only if centred by box; the mass sits low-left.
    shape = np.zeros((20, 20), np.float32)
    shape[:, :4] = 255
    shape[-4:, :] = 255
    rows, cols = center_of_mass(center_by_mass(shape))
    assert abs(rows - 14) <= 0.5 and abs(cols - 14) <= 0.5


def test_center_by_mass_clips_what_falls_outside_28x28() -> None:
    lopsided = np.zeros((20, 20), np.float32)
    lopsided[:, 0] = 255  # all the mass on one edge: the rest of the box lands outside
    lopsided[0, :] = 1
    placed = center_by_mass(lopsided)
    assert placed.shape == (SIZE, SIZE) and placed[:, 14].max() == 255


# stroke_width


@pytest.mark.parametrize("width", [2, 4, 6, 10, 16])
def test_stroke_width_of_a_bar_is_its_width(width: int) -> None:
    # Area over half the outline: w * L / (w + L), the width itself as the bar grows long.
    expected = width * 200 / (width + 200)
    assert stroke_width(bar(width)) == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize("width", [8, 12])
def test_stroke_width_counts_soft_edges_as_the_sharp_edge_they_blur(width: int) -> None:
    assert stroke_width(bar(width, soft=1.5)) == pytest.approx(stroke_width(bar(width)), rel=0.02)


def test_stroke_width_is_the_same_across_and_along() -> None:
    assert stroke_width(bar(6).T) == pytest.approx(stroke_width(bar(6)))


@pytest.mark.parametrize("digit", [0, 4, 7])
def test_stroke_width_of_a_drawn_digit_grows_with_the_pen(digit: int) -> None:
    fine, bold = (stroke_width(ink_of(draw_digit(digit, stroke=pen))) for pen in (6, 18))
    assert bold / fine == pytest.approx(3, rel=0.1)


# even_strokes


@pytest.mark.parametrize("digit", [0, 4, 7])
@pytest.mark.parametrize("pen", [2, 3])
def test_even_strokes_widens_hairlines_towards_mnists_width(digit: int, pen: int) -> None:
    hairline = ink_of(draw_digit(digit, stroke=pen))
    assert box_width(hairline) < 0.5
    widened = box_width(even_strokes(hairline))
    assert 1.2 <= widened <= 2.5


@pytest.mark.parametrize("digit", [0, 4, 8])
def test_even_strokes_narrows_marker_strokes_towards_mnists_width(digit: int) -> None:
    marker = ink_of(draw_digit(digit, stroke=70))
    assert box_width(marker) > 3.7
    narrowed = box_width(even_strokes(marker))
    assert 1.5 <= narrowed <= 3.5


@pytest.mark.parametrize("digit", [0, 3, 4, 7])
@pytest.mark.parametrize("pen", [20, 30])
def test_even_strokes_leaves_mnist_like_widths_alone(digit: int, pen: int) -> None:
    ink = ink_of(draw_digit(digit, stroke=pen))
    assert 1.2 <= box_width(ink) <= 3.7
    np.testing.assert_array_equal(even_strokes(ink), ink)


def test_even_strokes_keeps_a_marker_digit_when_narrowing_leaves_no_solid_ink() -> None:
    faint = ink_of(draw_digit(4, stroke=70)) * 0.45  # nowhere more than half inked
    assert box_width(faint) > 3.7
    np.testing.assert_array_equal(even_strokes(faint), faint)
