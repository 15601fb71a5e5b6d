"""Image bytes to gray levels: decoding with Pillow, safely, upright, at the size needed.

Pillow reads the formats and their variants (8- and 16-bit, gray, RGB, RGBA, palette,
EXIF orientation, progressive JPEG, animated GIF) and refuses a decompression bomb from its
header. The result is the luminance as uint8 (ITU-R 601, as Pillow's "L"), with
transparency flattened onto paper that contrasts with the strokes, and the size of the
upload as a viewer shows it, so that boxes can be given in those pixels.

Pure functions: no HTTP here beyond raising the service's error types.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image

from service.errors import BadRequest, PayloadTooLarge
from service.observability.metrics import count_decode_failure

FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")
"""Pillow's names of the formats accepted; every other plugin is never even tried."""

# What Pillow's decoders raise on bad input: truncation, corrupt streams, bad headers.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)
MAX_SIDE = 30_000
"""Pixels on an image's longer side; longer is refused (413), whatever its pixel count. A
camera's is 16,320 at most (200 MP), but Pillow keeps a pointer and more for each row beside
the pixels: an image one pixel wide costs several times the memory and time of a square one
of as many pixels. Both sides, since EXIF may turn a row into a column."""
_ORIENTATION = 0x0112  # the EXIF tag
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""What turns each EXIF orientation upright, as ``ImageOps.exif_transpose`` does; that also
writes the EXIF back, and failed on a block whose other tags are written wrong."""
_QUARTER_TURNS = (5, 6, 7, 8)  # orientations stored with width and height swapped


@dataclass(frozen=True)
class Picture:
    """A decoded upload: ``gray`` (H, W) uint8 luminance, upright, possibly decoded at a
    reduced scale; ``size``, the upload's (width, height) as a viewer shows it."""

    gray: np.ndarray
    size: tuple[int, int]

    @property
    def scale(self) -> tuple[float, float]:
        """(x, y): the upload's pixels per pixel of ``gray``."""
        height, width = self.gray.shape
        return self.size[0] / width, self.size[1] / height


@dataclass(frozen=True)
class Opened:
    """An upload whose header has passed every check, not decoded yet: what decoding it
    will cost is known (``pixels``), so a caller can weigh that first."""

    image: Image.Image
    header_size: tuple[int, int]

    @property
    def pixels(self) -> int:
        """The pixels it decodes to: at a JPEG's reduced scale, where ``at_least`` chose one."""
        return self.image.width * self.image.height

    def decode(self) -> Picture:
        """Upright gray levels, with transparency flattened."""
        return _decoded(self.image, *self.header_size)


def decode_image(data: bytes, *, max_pixels: int, at_least: int | None = None) -> Picture:
    """Decode an upload to upright gray levels, with transparency flattened: ``open_image``,
    then its ``decode``."""
    return open_image(data, max_pixels=max_pixels, at_least=at_least).decode()


def open_image(data: bytes, *, max_pixels: int, at_least: int | None = None) -> Opened:
    """An upload's header, read and checked; its pixels are decoded by ``Opened.decode``.

    The pixel count is checked from the header, before any pixel is decoded, so that a
    small file that inflates to gigabytes (a decompression bomb) costs nothing. With
    ``at_least``, a JPEG is to be decoded at 1/2, 1/4 or 1/8 scale (``Image.draft``: the
    DCT does it, nearly for free) when its long side stays at least that long. Raises
    ``BadRequest`` for anything that is not an image in one of ``FORMATS`` and
    ``PayloadTooLarge`` for more than ``max_pixels`` pixels.
    """
    try:
        image: Image.Image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as exc:  # past twice Pillow's own limit, 89 MP
        most = min(max_pixels, 2 * (Image.MAX_IMAGE_PIXELS or max_pixels))
        raise PayloadTooLarge(
            f"image too large to decode: it exceeds the limit of {most} pixels"
        ) from exc
    except _DECODE_ERRORS as exc:
        count_decode_failure()
        raise BadRequest(
            "could not read the image: not a PNG, JPEG, BMP, GIF or WebP file, or corrupt"
        ) from exc

    width, height = image.size
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"image of {width}x{height} = {width * height} pixels exceeds the limit of "
            f"{max_pixels} pixels"
        )
    if max(width, height) > MAX_SIDE:
        raise PayloadTooLarge(
            f"image of {width}x{height} pixels is longer than the limit of {MAX_SIDE} pixels a side"
        )

    if at_least:  # the header's sizes only, no decoding yet
        long_side = max(width, height)
        # At least a pixel a side: Pillow's JPEG draft divides by each (a 1000x1 JPEG).
        wanted = (max(1, width * at_least // long_side), max(1, height * at_least // long_side))
        image.draft(None, wanted)
    return Opened(image, (width, height))


def _decoded(image: Image.Image, width: int, height: int) -> Picture:
    """``Opened.decode``. The EXIF is read here, not in ``open_image``: a PNG's may follow
    its pixels, and Pillow decodes them all to find it."""
    try:
        image.load()  # a truncated or corrupt stream fails here, not later
        try:
            orientation = image.getexif().get(_ORIENTATION, 1)
        except _DECODE_ERRORS:  # an EXIF block written wrong: the pixels were whole
            orientation = 1
        turned = orientation in _QUARTER_TURNS
        if orientation in _UPRIGHT:  # phone photos are stored sideways
            image = image.transpose(_UPRIGHT[orientation])
    except Image.DecompressionBombError as exc:  # a GIF frame larger than its canvas
        raise PayloadTooLarge(f"image too large to decode: {exc}") from exc
    except _DECODE_ERRORS as exc:
        count_decode_failure()
        raise BadRequest(f"could not decode the {image.format} image: {exc}") from exc

    if image.mode.startswith("I;16"):
        image = _sixteen_to_eight_bits(image)
    if image.has_transparency_data:
        image = _flatten_onto_paper(image.convert("RGBA"))
    gray = np.asarray(image.convert("L"))
    return Picture(gray, (height, width) if turned else (width, height))


def _sixteen_to_eight_bits(image: Image.Image) -> Image.Image:
    """16-bit grayscale PNGs to "L" (or "LA"): Pillow's own conversion clips at 255, not scales."""
    values = np.asarray(image)
    gray = Image.fromarray(np.round(values / 257).astype(np.uint8))
    if "transparency" in image.info:  # one 16-bit value marks transparent pixels
        transparent = values == image.info["transparency"]
        gray.putalpha(Image.fromarray(np.where(transparent, 0, 255).astype(np.uint8)))
    return gray


def _flatten_onto_paper(rgba: Image.Image) -> Image.Image:
    """Transparent pixels are paper: white under a dark stroke, black under a light one.

    A drawing app exports strokes on a transparent canvas, dark or light; either way the
    stroke must contrast with the paper. A mostly opaque image (a photo with rounded
    corners) keeps white paper.
    """
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32)
    luma = np.asarray(rgba.convert("L"), dtype=np.float32)
    drawn = alpha.sum()
    light_strokes = drawn < 0.5 * 255 * alpha.size and (luma * alpha).sum() > 128 * drawn
    paper = Image.new("RGBA", rgba.size, "black" if light_strokes else "white")
    return Image.alpha_composite(paper, rgba).convert("RGB")
