"""service.inputs.images: decoding the accepted formats upright, at the size asked for, and
refusing the rest."""

from __future__ import annotations

import io
import resource

import numpy as np
import pytest
from PIL import Image, ImageDraw

from service.errors import BadRequest, PayloadTooLarge
from service.inputs.images import MAX_SIDE, decode_image, open_image
from tests.service.drawing import draw_digit, encode, photo_like, png_bomb

MAX_PIXELS = 50_000_000
ORIENTATION = 0x0112  # the EXIF tag
TURNS = {  # EXIF orientation: how the sensor stored an upright picture
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(a).astype(float), np.ravel(b).astype(float))[0, 1])


def stored_sideways(upright: Image.Image, orientation: int, fmt: str = "JPEG") -> bytes:
    """``upright`` as a phone stores it: turned, with the EXIF tag that turns it back."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return encode(upright.transpose(TURNS[orientation]), fmt, exif=exif.tobytes())


# decode_image: accepted formats


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF", "WEBP"])
@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_decode_reads_each_accepted_format_in_gray_and_colour(fmt: str, mode: str) -> None:
    original = draw_digit(4, (90, 120)).convert(mode)
    picture = decode_image(encode(original, fmt), max_pixels=MAX_PIXELS)
    assert picture.size == (90, 120)
    assert picture.gray.dtype == np.uint8 and picture.gray.shape == (120, 90)
    assert picture.scale == (1.0, 1.0)
    assert correlation(picture.gray, original.convert("L")) > 0.98


def test_decode_flattens_transparent_png_onto_white_paper() -> None:
    # A black stroke on a transparent canvas, as drawing apps export it.
    stroke = draw_digit(7, (100, 100))
    rgba = Image.new("RGBA", stroke.size, (0, 0, 0, 0))
    rgba.putalpha(Image.eval(stroke, lambda v: 255 - v))  # opaque where the ink is
    gray = decode_image(encode(rgba, "PNG"), max_pixels=MAX_PIXELS).gray
    assert gray[0, 0] == 255  # transparent paper is white
    assert correlation(gray, stroke) > 0.99


def test_decode_puts_light_strokes_on_transparent_canvas_onto_black() -> None:
    # White chalk on a transparent canvas: on white paper it would vanish.
    stroke = draw_digit(7, (100, 100))
    rgba = Image.new("RGBA", stroke.size, (255, 255, 255, 0))
    rgba.putalpha(Image.eval(stroke, lambda v: 255 - v))
    gray = decode_image(encode(rgba, "PNG"), max_pixels=MAX_PIXELS).gray
    assert gray[0, 0] == 0
    assert correlation(gray, 255 - np.asarray(stroke)) > 0.99


def test_decode_keeps_an_opaque_rgba_image_as_it_is() -> None:
    photo = photo_like(draw_digit(3, (120, 100)), seed=3)
    gray = decode_image(encode(photo.convert("RGBA"), "PNG"), max_pixels=MAX_PIXELS).gray
    np.testing.assert_array_equal(gray, np.asarray(photo.convert("L")))


def test_decode_flattens_palette_transparency_of_gif() -> None:
    canvas = Image.new("P", (60, 60), 0)
    canvas.putpalette([0, 0, 0] * 255 + [255, 255, 255])  # index 0 black, but transparent
    ImageDraw.Draw(canvas).line((30, 10, 30, 50), fill=1, width=6)  # index 1 is black too
    gray = decode_image(encode(canvas, "GIF", transparency=0), max_pixels=MAX_PIXELS).gray
    assert gray[0, 0] == 255 and gray[30, 30] == 0


def test_decode_takes_the_first_frame_of_an_animated_gif() -> None:
    first, second = draw_digit(1, (80, 80)), draw_digit(8, (80, 80))
    data = encode(first, "GIF", save_all=True, append_images=[second], duration=100)
    assert correlation(decode_image(data, max_pixels=MAX_PIXELS).gray, first) > 0.99


@pytest.mark.parametrize("orientation", sorted(TURNS))
def test_decode_turns_an_exif_rotated_jpeg_upright(orientation: int) -> None:
    upright = draw_digit(7, (300, 200))
    picture = decode_image(stored_sideways(upright, orientation), max_pixels=MAX_PIXELS)
    assert picture.size == (300, 200) and picture.gray.shape == (200, 300)
    assert correlation(picture.gray, upright) > 0.98


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_decode_turns_other_formats_upright_by_their_exif_too(fmt: str) -> None:
    upright = draw_digit(7, (300, 200))
    picture = decode_image(stored_sideways(upright, 6, fmt), max_pixels=MAX_PIXELS)
    assert picture.size == (300, 200)
    assert correlation(picture.gray, upright) > 0.98


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_decode_reads_an_image_whose_exif_is_written_wrong_as_it_is(fmt: str) -> None:
    """The pixels are whole; only the orientation is lost with the EXIF."""
    upright = draw_digit(7, (300, 200))
    broken = io.BytesIO()
    upright.save(broken, fmt, exif=b"Exif\x00\x00" + b"\xff" * 100)  # no TIFF header
    picture = decode_image(broken.getvalue(), max_pixels=MAX_PIXELS)
    assert picture.size == (300, 200)
    assert correlation(picture.gray, upright) > 0.98


BROKEN_TAGS_EXIF = bytes.fromhex(
    "4578696600004d4d002a0000000800c4013f00020000000463616d00011200030000000100060000"
    "876900040000000100000032000000000001900300020000000b00000044c3000000323032303a30"
    "313a30310000"
)
"""Orientation 6 (stored turned a quarter), and a maker's tag and the Exif IFD's offset
written wrong: Pillow's ``exif_transpose``, which writes the block back, raised TypeError."""


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_decode_turns_an_image_upright_though_its_other_exif_tags_are_written_wrong(
    fmt: str,
) -> None:
    upright = draw_digit(7, (300, 200))
    stored = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(stored, fmt, exif=BROKEN_TAGS_EXIF)
    picture = decode_image(stored.getvalue(), max_pixels=MAX_PIXELS)
    assert picture.size == (300, 200)
    assert correlation(picture.gray, upright) > 0.98


def test_decode_scales_16_bit_png_to_8_bit_gray() -> None:
    deep = np.asarray(draw_digit(2, (50, 50)), dtype=np.uint16) * 257  # 0..65535
    gray = decode_image(encode(Image.fromarray(deep), "PNG"), max_pixels=MAX_PIXELS).gray
    assert gray.min() == 0 and gray.max() == 255
    np.testing.assert_allclose(gray, deep / 257, atol=0.5)


def test_decode_flattens_the_transparent_value_of_a_16_bit_png() -> None:
    # Dark strokes on a mid-gray background that the tRNS chunk marks transparent.
    deep = np.where(np.asarray(draw_digit(2, (50, 50))) < 128, 0, 30_000).astype(np.uint16)
    data = encode(Image.fromarray(deep), "PNG", transparency=30_000)
    gray = decode_image(data, max_pixels=MAX_PIXELS).gray
    assert gray[0, 0] == 255 and gray.min() == 0


# decode_image: at a reduced scale


def test_decode_reads_a_large_jpeg_at_reduced_scale_keeping_its_full_size() -> None:
    data = encode(photo_like(draw_digit(5, (800, 600)), seed=5), "JPEG")
    picture = decode_image(data, max_pixels=MAX_PIXELS, at_least=200)
    assert picture.size == (800, 600)
    assert picture.gray.shape == (150, 200)  # 1/4: the smallest still 200 on the long side
    assert picture.scale == (4.0, 4.0)


def test_decode_reduces_no_more_than_at_least_allows() -> None:
    data = encode(photo_like(draw_digit(5, (800, 600)), seed=5), "JPEG")
    picture = decode_image(data, max_pixels=MAX_PIXELS, at_least=201)
    assert picture.gray.shape == (300, 400)  # 1/4 would be 200 on the long side: too small


@pytest.mark.parametrize("at_least", [None, 800, 2000])
def test_decode_reads_a_jpeg_in_full_unless_at_least_allows_less(at_least: int | None) -> None:
    data = encode(photo_like(draw_digit(5, (800, 600)), seed=5), "JPEG")
    picture = decode_image(data, max_pixels=MAX_PIXELS, at_least=at_least)
    assert picture.gray.shape == (600, 800) and picture.size == (800, 600)


@pytest.mark.parametrize("size", [(1000, 1), (1, 1000), (3000, 5)])
def test_decode_reads_a_jpeg_far_longer_than_wide_at_least_a_pixel_a_side(size) -> None:
    """Scaled to ``at_least`` on its long side, its short side rounds down to no pixel."""
    data = encode(Image.new("L", size, 0), "JPEG")
    picture = decode_image(data, max_pixels=MAX_PIXELS, at_least=448)
    assert picture.size == size and min(picture.gray.shape) >= 1


def test_decode_reads_other_formats_in_full_whatever_at_least_says() -> None:
    data = encode(draw_digit(5, (800, 600)), "PNG")
    picture = decode_image(data, max_pixels=MAX_PIXELS, at_least=100)
    assert picture.gray.shape == (600, 800) and picture.scale == (1.0, 1.0)


def test_decode_gives_an_exif_rotated_jpeg_at_reduced_scale_its_upright_full_size() -> None:
    upright = photo_like(draw_digit(7, (800, 600)), seed=7)
    picture = decode_image(stored_sideways(upright, 6), max_pixels=MAX_PIXELS, at_least=200)
    assert picture.size == (800, 600)
    assert picture.gray.shape == (150, 200) and picture.scale == (4.0, 4.0)
    reduced = np.asarray(upright.convert("L").reduce(4))
    assert correlation(picture.gray, reduced) > 0.95


# decode_image: refusals


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_decode_rejects_truncated_image(fmt: str) -> None:
    data = encode(photo_like(draw_digit(3, (200, 200)), seed=0), fmt)
    with pytest.raises(BadRequest, match="truncated"):
        decode_image(data[: len(data) // 2], max_pixels=MAX_PIXELS)


def test_decode_rejects_a_truncated_jpeg_even_at_reduced_scale() -> None:
    data = encode(photo_like(draw_digit(3, (800, 600)), seed=0), "JPEG")
    with pytest.raises(BadRequest, match="truncated"):
        decode_image(data[: len(data) // 2], max_pixels=MAX_PIXELS, at_least=200)


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
    # Pillow refuses it first, by a limit of its own: the message names the service's.
    with pytest.raises(PayloadTooLarge, match=f"exceeds the limit of {MAX_PIXELS} pixels"):
        decode_image(bomb, max_pixels=MAX_PIXELS)
    assert peak_memory_mb() - before < 50


def test_a_bomb_refused_by_pillows_own_limit_names_that_limit() -> None:
    """Set above Pillow's limit, the setting is not the one that refuses (15000x12000)."""
    pillows = 2 * Image.MAX_IMAGE_PIXELS
    with pytest.raises(PayloadTooLarge, match=f"exceeds the limit of {pillows} pixels"):
        decode_image(png_bomb(15000, 12000), max_pixels=200_000_000)


def test_decode_rejects_image_over_max_pixels_from_its_header() -> None:
    bomb = png_bomb(10000, 8000)  # under Pillow's own limit: only max_pixels stops it
    before = peak_memory_mb()
    with pytest.raises(PayloadTooLarge, match="10000x8000 = 80000000 pixels exceeds the limit"):
        decode_image(bomb, max_pixels=MAX_PIXELS)
    assert peak_memory_mb() - before < 50


@pytest.mark.parametrize("size", [(1, MAX_SIDE + 1), (MAX_SIDE + 1, 1)], ids=["tall", "wide"])
def test_decode_rejects_an_image_longer_than_max_side_whatever_its_pixels(size) -> None:
    """Pillow's cost grows with the rows, not only the pixels (and EXIF may turn a wide
    image tall)."""
    with pytest.raises(PayloadTooLarge, match=f"longer than the limit of {MAX_SIDE} pixels"):
        decode_image(png_bomb(*size), max_pixels=MAX_PIXELS)


def test_decode_reads_an_image_as_long_as_max_side() -> None:
    assert decode_image(png_bomb(1, MAX_SIDE), max_pixels=MAX_PIXELS).gray.shape == (MAX_SIDE, 1)


def test_an_opened_image_says_what_it_will_decode_to() -> None:
    """A PNG all its pixels; a JPEG read at an eighth of its scale, an eighth squared."""
    png = encode(Image.new("L", (100, 80), 255), "PNG")
    assert open_image(png, max_pixels=MAX_PIXELS).pixels == 8000
    jpeg = encode(Image.new("L", (400, 320), 255), "JPEG")
    assert open_image(jpeg, max_pixels=MAX_PIXELS, at_least=50).pixels == 50 * 40


def test_opening_an_image_decodes_none_of_it() -> None:
    """What it will cost is weighed before it is paid: not even a PNG's EXIF, which Pillow
    finds by decoding all the pixels before it, is read."""
    bomb = png_bomb(10000, 8000)  # 80 MB as 8-bit gray
    before = peak_memory_mb()
    opened = open_image(bomb, max_pixels=100_000_000)
    assert opened.pixels == 80_000_000
    assert peak_memory_mb() - before < 50


def test_decode_counts_the_pixels_of_a_jpeg_before_reducing_it() -> None:
    data = encode(Image.new("L", (800, 600), 255), "JPEG")
    with pytest.raises(PayloadTooLarge, match="800x600"):
        decode_image(data, max_pixels=800 * 600 - 1, at_least=100)
