"""service.images: decoding the accepted formats, refusing the rest, MNIST-style normalisation."""

from __future__ import annotations

import math
import resource

import numpy as np
import pytest
from PIL import Image, ImageDraw

from service.errors import BadRequest, InvalidInput, PayloadTooLarge
from service.images import (
    _quantile,
    decode_image,
    normalize_mnist,
    resize_plain,
    to_grayscale,
    validate_array,
)
from tests.service.drawing import draw_digit, encode, photo_like, png_bomb

MAX_PIXELS = 50_000_000


def normalize(image: Image.Image) -> np.ndarray:
    return normalize_mnist(to_grayscale(image))


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def aligned_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Best correlation over shifts of up to one pixel.

    Centring rounds the centre of mass to a whole pixel, as MNIST did, so two renderings of
    one digit may land a pixel apart.
    """
    return max(
        correlation(np.roll(a, (dy, dx), axis=(0, 1)), b) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
    )


def center_of_mass(digit: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(digit.shape)
    total = digit.sum()
    return float((rows * digit).sum() / total), float((cols * digit).sum() / total)


def ink_extent(pixels: np.ndarray) -> tuple[int, int]:
    """(height, width) of the bounding box of the nonzero pixels."""
    rows, cols = np.nonzero(pixels)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


# decode_image: accepted formats


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF", "WEBP"])
@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_decode_reads_each_accepted_format_in_gray_and_colour(fmt: str, mode: str) -> None:
    original = draw_digit(4, (90, 120)).convert(mode)
    image = decode_image(encode(original, fmt), max_pixels=MAX_PIXELS)
    assert image.size == (90, 120)
    gray = to_grayscale(image)
    assert gray.dtype == np.float32 and gray.shape == (120, 90)
    assert correlation(gray, to_grayscale(original)) > 0.98


def test_decode_flattens_transparent_png_onto_white_paper() -> None:
    # A black stroke on a transparent canvas, as drawing apps export it.
    stroke = draw_digit(7, (100, 100))
    rgba = Image.new("RGBA", stroke.size, (0, 0, 0, 0))
    rgba.putalpha(Image.eval(stroke, lambda v: 255 - v))  # opaque where the ink is
    image = decode_image(encode(rgba, "PNG"), max_pixels=MAX_PIXELS)
    gray = to_grayscale(image)
    assert gray[0, 0] == 255  # transparent paper is white
    assert correlation(normalize_mnist(gray), normalize(stroke)) > 0.99


def test_decode_puts_light_strokes_on_transparent_canvas_onto_black() -> None:
    # White chalk on a transparent canvas: on white paper it would vanish.
    stroke = draw_digit(7, (100, 100))
    rgba = Image.new("RGBA", stroke.size, (255, 255, 255, 0))
    rgba.putalpha(Image.eval(stroke, lambda v: 255 - v))
    gray = to_grayscale(decode_image(encode(rgba, "PNG"), max_pixels=MAX_PIXELS))
    assert gray[0, 0] == 0
    assert correlation(normalize_mnist(gray), normalize(stroke)) > 0.99


def test_decode_flattens_palette_transparency_of_gif() -> None:
    canvas = Image.new("P", (60, 60), 0)
    canvas.putpalette([0, 0, 0] * 255 + [255, 255, 255])  # index 0 black, but transparent
    ImageDraw.Draw(canvas).line((30, 10, 30, 50), fill=1, width=6)  # index 1 is black too
    image = decode_image(encode(canvas, "GIF", transparency=0), max_pixels=MAX_PIXELS)
    gray = to_grayscale(image)
    assert gray[0, 0] == 255 and gray[30, 30] == 0


def test_decode_takes_the_first_frame_of_an_animated_gif() -> None:
    first, second = draw_digit(1, (80, 80)), draw_digit(8, (80, 80))
    data = encode(first, "GIF", save_all=True, append_images=[second], duration=100)
    image = decode_image(data, max_pixels=MAX_PIXELS)
    assert correlation(to_grayscale(image), to_grayscale(first)) > 0.99


def test_decode_turns_an_exif_rotated_jpeg_upright() -> None:
    upright = draw_digit(7, (300, 200))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as the sensor saw it: 200x300
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    image = decode_image(encode(stored, "JPEG", exif=exif.tobytes()), max_pixels=MAX_PIXELS)
    assert image.size == (300, 200)
    assert correlation(to_grayscale(image), to_grayscale(upright)) > 0.98


def test_decode_scales_16_bit_png_to_8_bit_gray() -> None:
    deep = np.asarray(draw_digit(2, (50, 50)), dtype=np.uint16) * 257  # 0..65535
    image = decode_image(encode(Image.fromarray(deep), "PNG"), max_pixels=MAX_PIXELS)
    gray = to_grayscale(image)
    assert gray.min() == 0 and gray.max() == 255
    np.testing.assert_allclose(gray, deep / 257, atol=0.5)


def test_decode_reads_a_huge_jpeg_at_reduced_scale() -> None:
    big = Image.new("L", (4000, 3000), 255)
    image = decode_image(encode(big, "JPEG"), max_pixels=MAX_PIXELS)
    assert image.size == (1000, 750)  # 1/4 scale: the smallest still at least 512 on a side


# decode_image: refusals


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_decode_rejects_truncated_image(fmt: str) -> None:
    data = encode(photo_like(draw_digit(3, (200, 200)), seed=0), fmt)
    with pytest.raises(BadRequest, match="truncated"):
        decode_image(data[: len(data) // 2], max_pixels=MAX_PIXELS)


@pytest.mark.parametrize(
    "data",
    [
        np.random.default_rng(0).bytes(2000),
        b"",
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    ],
    ids=["random-bytes", "empty", "pdf", "svg"],
)
def test_decode_rejects_bytes_that_are_no_image(data: bytes) -> None:
    with pytest.raises(BadRequest, match="PNG, JPEG, BMP, GIF or WebP"):
        decode_image(data, max_pixels=MAX_PIXELS)


@pytest.mark.parametrize("fmt", ["TIFF", "ICO", "PPM", "TGA"])
def test_decode_rejects_image_formats_not_accepted(fmt: str) -> None:
    data = encode(draw_digit(5, (64, 64)), fmt)
    with pytest.raises(BadRequest, match="PNG, JPEG, BMP, GIF or WebP"):
        decode_image(data, max_pixels=MAX_PIXELS)


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def test_decode_rejects_decompression_bomb_before_decoding_it() -> None:
    bomb = png_bomb(30000, 30000)  # 0.9 gigapixels: 900 MB as 8-bit gray
    assert len(bomb) < 200_000
    before = peak_memory_mb()
    with pytest.raises(PayloadTooLarge):
        decode_image(bomb, max_pixels=MAX_PIXELS)
    assert peak_memory_mb() - before < 50


def test_decode_rejects_image_over_max_pixels_from_its_header() -> None:
    bomb = png_bomb(10000, 8000)  # under Pillow's own limit: only max_pixels stops it
    before = peak_memory_mb()
    with pytest.raises(PayloadTooLarge, match="10000x8000 = 80000000 pixels exceeds the limit"):
        decode_image(bomb, max_pixels=MAX_PIXELS)
    assert peak_memory_mb() - before < 50


# normalize_mnist


def test_normalize_inverts_dark_ink_on_light_paper() -> None:
    digit = normalize(draw_digit(3, ink=0, paper=255))
    assert digit[0, 0] == 0 and digit.max() == 255  # dark field, light digit
    assert correlation(digit, normalize(draw_digit(3, ink=255, paper=0))) > 0.99


def test_normalize_keeps_light_ink_on_dark_background() -> None:
    digit = normalize(draw_digit(3, ink=255, paper=0))
    assert digit[0, 0] == 0 and digit.max() == 255


def test_normalize_decides_polarity_of_bold_digit_by_the_border() -> None:
    # So much ink that the mean is darker than mid-gray: the border still says "paper".
    bold = draw_digit(8, (100, 100), scale=1.5, stroke=22)
    assert to_grayscale(bold).mean() < 128
    digit = normalize(bold)
    assert digit[0, 0] == 0 and digit.max() == 255


def test_normalize_returns_float32_28x28_in_gray_levels() -> None:
    digit = normalize(draw_digit(5))
    assert digit.dtype == np.float32 and digit.shape == (28, 28)
    assert digit.min() >= 0 and digit.max() == 255


@pytest.mark.parametrize("digit", range(10))
@pytest.mark.parametrize("offset", [(0, 0), (70, -50)])
def test_normalize_puts_center_of_mass_within_a_pixel_of_14_14(
    digit: int, offset: tuple[int, int]
) -> None:
    rows, cols = center_of_mass(normalize(draw_digit(digit, (300, 260), offset=offset)))
    assert abs(rows - 14) <= 1 and abs(cols - 14) <= 1


@pytest.mark.parametrize("digit", range(10))
def test_normalize_fits_ink_in_20x20_box_touching_it_on_the_long_side(digit: int) -> None:
    height, width = ink_extent(normalize(draw_digit(digit)))
    assert max(height, width) == 20 and min(height, width) <= 20


@pytest.mark.parametrize(
    "image",
    [draw_digit(0), draw_digit(1), draw_digit(1).rotate(90, expand=True, fillcolor=255)],
    ids=["tall-0", "narrow-1", "lying-1"],
)
def test_normalize_preserves_aspect_ratio(image: Image.Image) -> None:
    source_height, source_width = ink_extent(255 - np.asarray(image))
    height, width = ink_extent(normalize(image))
    assert math.isclose(width / height, source_width / source_height, abs_tol=1.5 / 20)


@pytest.mark.parametrize("digit", [0, 2, 4, 7])
def test_normalize_off_centre_photo_matches_clean_digit(digit: int) -> None:
    clean = normalize(draw_digit(digit))
    page = draw_digit(digit, (2000, 1500), offset=(500, -300), scale=0.7)
    data = encode(photo_like(page, seed=digit), "JPEG", quality=85)
    photo = normalize(decode_image(data, max_pixels=MAX_PIXELS))
    assert aligned_correlation(photo, clean) > 0.9


def test_normalize_removes_strong_uneven_lighting() -> None:
    page = np.asarray(draw_digit(6, (600, 450)), dtype=np.float32)
    light = np.linspace(0.35, 1.0, 600, dtype=np.float32)[None, :]  # dim left, bright right
    photo = normalize_mnist(page * light)
    assert aligned_correlation(photo, normalize(draw_digit(6))) > 0.95


def test_normalize_ignores_a_speck_apart_from_the_digit() -> None:
    page = draw_digit(1, (400, 400))
    ImageDraw.Draw(page).ellipse((20, 370, 30, 380), fill=0)  # dust in a corner
    assert aligned_correlation(normalize(page), normalize(draw_digit(1, (400, 400)))) > 0.95


def test_normalize_widens_hairline_strokes_towards_mnist_width() -> None:
    hairline = photo_like(draw_digit(4, (1200, 900), stroke=3, scale=0.6), seed=4)
    digit = normalize(hairline)
    assert (digit > 128).sum() > 40  # MNIST's 4s have ~70 such pixels; a hairline ~20
    assert aligned_correlation(digit, normalize(draw_digit(4))) > 0.85


def test_normalize_is_idempotent_on_mnist_form() -> None:
    once = normalize(draw_digit(9))
    assert correlation(normalize_mnist(once), once) > 0.99


@pytest.mark.parametrize("shape", [(1, 3000), (3000, 2), (64, 53808)])
def test_normalize_survives_extreme_aspect_ratios(shape: tuple[int, int]) -> None:
    strip = np.full(shape, 255, np.float32)
    strip[: shape[0] // 2 + 1, : shape[1] // 2] = 0
    assert normalize_mnist(strip).shape == (28, 28)


@pytest.mark.parametrize(
    "image",
    [
        Image.new("L", (200, 200), 255),
        Image.new("L", (28, 28), 0),
        Image.new("L", (50, 40), 128),
        photo_like(Image.new("L", (1200, 900), 255), seed=1),
    ],
    ids=["white", "black", "gray", "photo-of-blank-paper"],
)
def test_normalize_blank_image_gives_zeros(image: Image.Image) -> None:
    digit = normalize(image)
    assert digit.shape == (28, 28) and not digit.any()


# resize_plain


def test_resize_plain_leaves_28x28_input_unchanged() -> None:
    digit = normalize(draw_digit(2))
    np.testing.assert_array_equal(resize_plain(digit), digit)


def test_resize_plain_neither_inverts_nor_crops() -> None:
    gray = np.full((56, 112), 255, np.float32)
    gray[:, :56] = 0  # left half black: stays the left half, stays black
    plain = resize_plain(gray)
    assert plain.shape == (28, 28) and plain.dtype == np.float32
    assert plain[:, :12].max() < 5 and plain[:, 16:].min() > 250


# validate_array


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


@pytest.mark.parametrize("value", [-1, 255.5, 1000])
def test_validate_array_rejects_values_outside_0_255(value: float) -> None:
    values = grid()
    values[27][27] = value
    with pytest.raises(InvalidInput, match=r"0-255; \[27\]\[27\]"):
        validate_array(values)


def test_validate_array_rejects_deep_nesting_without_recursing_forever() -> None:
    values: object = 0.0
    for _ in range(5000):
        values = [values]
    with pytest.raises(InvalidInput, match="nested"):
        validate_array(values)


@pytest.mark.parametrize("size", [1, 2, 7, 400, 5000])
@pytest.mark.parametrize("q", [0.0, 0.25, 0.5, 0.95, 1.0])
def test_quantile_matches_numpy(size: int, q: float) -> None:
    values = np.random.default_rng(size).normal(128, 40, size).astype(np.float32)
    assert _quantile(values, q) == pytest.approx(float(np.quantile(values, q)), rel=1e-6)
