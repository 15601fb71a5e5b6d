"""Synthetic digit images for the tests: clean drawings, phone-photo look-alikes, encoded files.

Digits are drawn as pen strokes with ``ImageDraw`` (no fonts, so the tests need nothing from the
system), in a unit box 0.6 wide by 1 tall, x to the right and y down.
"""

from __future__ import annotations

import io
import math
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Point = tuple[float, float]
Box = tuple[int, int, int, int]
"""x, y, width, height in pixels."""

# Drawn at this multiple of the requested size, then box-reduced: anti-aliased strokes.
_SUPERSAMPLE = 4


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float) -> list[Point]:
    """Points along an ellipse from ``start`` to ``end`` degrees (0 = right, 90 = down)."""
    steps = max(2, round(abs(end - start) / 10))
    angles = np.radians(np.linspace(start, end, steps + 1))
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


# Each digit is a few polylines, as a pen would write it.
_STROKES: dict[int, list[list[Point]]] = {
    0: [_arc(0.5, 0.5, 0.5, 0.5, 0, 360)],
    1: [[(0.2, 0.2), (0.55, 0.0), (0.55, 1.0)]],
    2: [[*_arc(0.5, 0.28, 0.45, 0.28, 200, 380), (0.0, 1.0), (1.0, 1.0)]],
    3: [_arc(0.5, 0.25, 0.45, 0.25, 200, 450), _arc(0.5, 0.75, 0.5, 0.25, 270, 520)],
    4: [[(0.7, 1.0), (0.7, 0.0), (0.0, 0.68), (1.0, 0.68)]],
    5: [[(0.9, 0.0), (0.15, 0.0), (0.12, 0.44), *_arc(0.45, 0.68, 0.45, 0.32, 230, 520)]],
    6: [[(0.75, 0.0), (0.3, 0.3), (0.1, 0.65)], _arc(0.5, 0.7, 0.4, 0.3, 180, 540)],
    7: [[(0.0, 0.0), (1.0, 0.0), (0.35, 1.0)]],
    8: [_arc(0.5, 0.25, 0.4, 0.25, 0, 360), _arc(0.5, 0.74, 0.5, 0.26, 0, 360)],
    9: [_arc(0.5, 0.3, 0.45, 0.3, 0, 360), [(0.95, 0.3), (0.85, 1.0)]],
}


def draw_digit(
    digit: int,
    size: tuple[int, int] = (280, 280),
    *,
    ink: int = 0,
    paper: int = 255,
    offset: tuple[int, int] = (0, 0),
    scale: float = 1.0,
    stroke: int | None = None,
) -> Image.Image:
    """A grayscale ("L") image of ``digit`` written with a round pen.

    At ``scale=1`` the digit is 0.6 of the shorter side tall, centred, then moved by ``offset``
    (dx, dy) pixels; ``stroke`` is the pen width in pixels (default: 1/8 of the digit's height,
    about MNIST's proportion).
    """
    width, height = size
    glyph_h = 0.6 * scale * min(size)
    glyph_w = 0.6 * glyph_h
    pen = stroke if stroke is not None else max(1, round(glyph_h / 8))
    ss = _SUPERSAMPLE
    centre_x, centre_y = (width / 2 + offset[0]) * ss, (height / 2 + offset[1]) * ss

    canvas = Image.new("L", (width * ss, height * ss), paper)
    draw = ImageDraw.Draw(canvas)
    radius = pen * ss / 2
    for line in _STROKES[digit]:
        points = [
            (centre_x + (u - 0.5) * glyph_w * ss, centre_y + (v - 0.5) * glyph_h * ss)
            for u, v in line
        ]
        draw.line(points, fill=ink, width=round(pen * ss), joint="curve")
        for x, y in (points[0], points[-1]):  # round caps
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=ink)
    return canvas.reduce(ss)


def draw_number(
    digits: str, size: tuple[int, int] = (600, 240), *, scale: float = 0.9
) -> tuple[Image.Image, list[Box]]:
    """A grayscale image of the number ``digits`` written in a row, each digit centred in its
    own share of the width (well spaced), and each digit's ink box, left to right."""
    width, height = size
    page = np.full((height, width), 255, np.uint8)
    boxes = []
    for i, digit in enumerate(digits):
        dx = round((i + 0.5) * width / len(digits) - width / 2)
        drawn = draw_digit(int(digit), size, offset=(dx, 0), scale=scale)
        page = np.minimum(page, np.asarray(drawn))
        boxes.append(ink_box(drawn))
    return Image.fromarray(page), boxes


def ink_box(image: Image.Image, *, dark_ink: bool = True) -> Box:
    """The box of the pixels on the ink's side of mid-gray."""
    gray = np.asarray(image.convert("L"))
    rows, cols = np.nonzero(gray < 128 if dark_ink else gray > 128)
    top, left = int(rows.min()), int(cols.min())
    return left, top, int(cols.max()) + 1 - left, int(rows.max()) + 1 - top


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    shared = max(width, 0) * max(height, 0)
    return shared / (a[2] * a[3] + b[2] * b[3] - shared)


def photo_like(image: Image.Image, seed: int) -> Image.Image:
    """An RGB "phone photo" of ``image`` (as paper reflectance): uneven light, tint, noise, blur.

    Light falls off linearly in a random direction and towards the corners (to about half the
    brightness), ink reflects 12% and paper 92%, and the sensor adds Gaussian noise.
    """
    rng = np.random.default_rng(seed)
    height, width = image.height, image.width
    reflectance = 0.12 + 0.8 * np.asarray(image.convert("L"), dtype=np.float32) / 255  # (H, W)

    ys = (np.arange(height, dtype=np.float32) / height - 0.5)[:, None]  # (H, 1)
    xs = (np.arange(width, dtype=np.float32) / width - 0.5)[None, :]  # (1, W)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = xs * math.cos(angle) + ys * math.sin(angle)  # in [-0.71, 0.71]
    light = (0.78 + 0.3 * ramp) * (1 - 0.35 * (xs**2 + ys**2))

    gray = 255 * reflectance * light + 4 * rng.standard_normal((height, width), np.float32)
    photo = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8))
    photo = photo.filter(ImageFilter.GaussianBlur(radius=max(width, height) / 1000))
    # A warm tint: paper under indoor light is never neutral gray.
    channels = [photo.point(lambda v, k=k: round(v * k)) for k in (1.0, 0.95, 0.85)]
    return Image.merge("RGB", channels)


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    """The bytes of ``image`` saved as ``fmt`` ("PNG", "JPEG", ...); ``params`` go to ``save``."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of ``width`` x ``height`` black pixels: tiny on disk, huge decoded.

    Built chunk by chunk, row by row, so making it never holds the image in memory.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, gray
    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then the packed pixels
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
