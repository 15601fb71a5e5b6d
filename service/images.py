"""Bytes to 28x28 gray levels: image decoding and MNIST-style normalisation.

Every path ends in float32 (28, 28) gray levels 0-255, a light digit on a dark background,
which is what the network saw in training. ``normalize_mnist`` repeats how MNIST was made
(LeCun, Bottou, Bengio & Haffner, 1998, section III-A; http://yann.lecun.com/exdb/mnist/):
the digit is size-normalised to fit a 20x20 box, preserving its aspect ratio, with
anti-aliasing, then placed in a 28x28 field so that its centre of mass lies at the centre.
Before that, photos need what NIST's scanned forms did not: the polarity found, uneven
lighting and paper noise removed, and hairline pen strokes widened to MNIST's width.

Pure functions: no HTTP here beyond raising the service's error types.
"""

from __future__ import annotations

import io
import itertools
import math
import struct
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image, ImageOps

from service.errors import BadRequest, InvalidInput, PayloadTooLarge

SIZE = 28
"""Side of the network's input."""

BOX = 20
"""MNIST's digits fit a BOX x BOX square, centred by mass in the SIZE x SIZE field."""

WORKING_SIDE = 512
"""Large images are reduced to about this long side before any normalisation work."""

FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")
"""Pillow's names of the formats accepted; every other plugin is never even tried."""

# What Pillow's decoders raise on bad input: truncation, corrupt streams, bad headers.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)

_PAPER_GRID = 16  # blocks along the long side for the lighting estimate
_INK_WEIGHT = 0.001  # of a block above the fitted paper surface, relative to one below it
_FIT_ROUNDS = 20
_NOISE_SIGMAS = 4.0  # ink must stand this many noise deviations above the paper
_MIN_CONTRAST = 16.0  # gray levels; less than this above the paper is not ink
_SPECK = 0.02  # share of the ink that a detached speck on either side may hold
_BBOX_FLOOR = 0.02  # rows/columns with less than this share of the peak row's ink are empty
_THIN_STROKE = 1.0  # box pixels, as estimated below: under MNIST's 1st percentile ...
_STROKE = 2.0  # ... and its median, to which thinner strokes are widened
_NUMBER_TYPES = frozenset({int, float})  # of JSON numbers as parsed; bool is not one
_SORT_MAX = 4096  # values; np.quantile's O(n) selection wins above this
_MAX_DEPTH = 8  # of JSON arrays: deep enough to report a mistaken shape like 1x28x28x1


def decode_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """Decode an upload into an RGB-or-gray image, upright, with transparency flattened.

    The pixel count is checked from the header, before any pixel is decoded, so that a
    small file that inflates to gigabytes (a decompression bomb) costs nothing. JPEGs larger
    than needed are decoded at 1/2, 1/4 or 1/8 scale (``Image.draft``), never below
    ``WORKING_SIDE``. Raises ``BadRequest`` for anything that is not a complete image in one
    of ``FORMATS`` and ``PayloadTooLarge`` for more than ``max_pixels`` pixels.
    """
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as exc:
        raise PayloadTooLarge(f"image too large to decode: {exc}") from exc
    except _DECODE_ERRORS as exc:
        raise BadRequest(
            "could not read the image: not a PNG, JPEG, BMP, GIF or WebP file, or corrupt"
        ) from exc

    width, height = image.size
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"image of {width}x{height} = {width * height} pixels exceeds the limit of "
            f"{max_pixels} pixels"
        )

    try:
        image.draft(None, (WORKING_SIDE, WORKING_SIDE))  # only JPEG acts on it
        image.load()  # a truncated or corrupt stream fails here, not later
        ImageOps.exif_transpose(image, in_place=True)  # phone photos are stored sideways
    except Image.DecompressionBombError as exc:  # a GIF frame larger than its canvas
        raise PayloadTooLarge(f"image too large to decode: {exc}") from exc
    except _DECODE_ERRORS as exc:
        raise BadRequest(f"could not decode the {image.format} image: {exc}") from exc

    if image.mode.startswith("I;16"):
        image = _sixteen_to_eight_bits(image)
    if image.has_transparency_data:
        image = _flatten_onto_paper(image.convert("RGBA"))
    return image


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


def to_grayscale(image: Image.Image) -> np.ndarray:
    """Luminance as float32 (H, W) in 0-255 (ITU-R 601 weights, as Pillow's "L")."""
    return np.asarray(image.convert("L"), dtype=np.float32)


def resize_plain(gray: np.ndarray) -> np.ndarray:
    """Resize straight to 28x28 (no inversion, no cropping): for images already in MNIST form."""
    image = Image.fromarray(np.ascontiguousarray(gray, dtype=np.float32))
    resized = image.resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float32), 0, 255)


def normalize_mnist(gray: np.ndarray) -> np.ndarray:
    """Any picture of one digit to float32 (28, 28), 0-255, in MNIST's form.

    Steps: reduce to ``WORKING_SIDE``; make the ink light on dark; subtract the paper's
    (possibly uneven) brightness and drop what is indistinguishable from noise, stretching
    the ink to 255; crop to the ink; widen hairlines; scale into the 20x20 box; centre by
    mass. A picture with no ink comes back as zeros. Assumes one digit on paper that fills
    the frame's border; a hard-edged shadow across the paper is taken for ink.
    """
    ink = _ink_light_on_dark(_reduce(gray.astype(np.float32, copy=False)))
    ink = _remove_background(ink)
    if not ink.any():
        return np.zeros((SIZE, SIZE), np.float32)
    top, bottom, left, right = _ink_bbox(ink)
    return _center_by_mass(_fit_box(_thicken(ink[top:bottom, left:right])))


def validate_array(values: object) -> np.ndarray:
    """Check a JSON instance: 28x28 (or 28x28x1) numbers in 0-255; float32 (28, 28) out.

    Raises ``InvalidInput`` naming what is wrong: the shape received, the first ragged row,
    the first non-number, NaN/Inf, or values outside 0-255.
    """
    if is_plain_28x28(values):  # the common case, checked in ~1/20 of the general walk's time
        array = np.array(values, dtype=np.float64)
    else:
        shape = _nested_shape(values, "", depth=0)
        if shape not in ((SIZE, SIZE), (SIZE, SIZE, 1)):
            received = "x".join(str(n) for n in shape) if shape else "a single number"
            raise InvalidInput(
                f"expected a 28x28 (or 28x28x1) array of gray levels, got {received}"
            )
        array = np.asarray(values, dtype=np.float64).reshape(SIZE, SIZE)
    if not np.isfinite(array).all():
        row, col = np.argwhere(~np.isfinite(array))[0]
        raise InvalidInput(f"values must be finite numbers; [{row}][{col}] is {array[row, col]}")
    outside = (array < 0) | (array > 255)
    if outside.any():
        row, col = np.argwhere(outside)[0]
        raise InvalidInput(
            f"values must be gray levels in 0-255; [{row}][{col}] is {array[row, col]:g}"
        )
    return array.astype(np.float32)


def is_plain_28x28(values: object) -> bool:
    """28 lists of 28 ints or floats (booleans excluded), as JSON decoders hand them over."""
    return (
        type(values) is list
        and len(values) == SIZE
        and all(type(row) is list and len(row) == SIZE for row in values)
        and set(map(type, itertools.chain.from_iterable(values))) <= _NUMBER_TYPES
    )


def _nested_shape(values: object, where: str, depth: int) -> tuple[int, ...]:
    """The shape of nested lists of numbers; ``InvalidInput`` if ragged or not numbers."""
    if isinstance(values, Sequence) and not isinstance(values, str):
        if depth == _MAX_DEPTH:  # before Python's recursion limit turns it into a 500
            raise InvalidInput(f"array nested more than {_MAX_DEPTH} deep; expected 28x28")
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


def _reduce(gray: np.ndarray) -> np.ndarray:
    """Average k x k blocks so the long side is at most ``WORKING_SIDE`` (area-correct, fast)."""
    height, width = gray.shape
    k = min(math.ceil(max(height, width) / WORKING_SIDE), height, width)  # keep a pixel a side
    if k == 1:
        return gray
    h, w = height // k, width // k
    rows = gray[: h * k, : w * k].reshape(h, k, w * k).mean(axis=1)  # (h, w*k)
    return rows.reshape(h, w, k).mean(axis=2)  # (h, w)


def _ink_light_on_dark(gray: np.ndarray) -> np.ndarray:
    """Invert dark-on-light pictures, deciding by where the frame's border lies.

    The border is mostly background; the ink is the extreme of the histogram far from it.
    (The mean would fail for bold digits, or for a dim photo of white paper.)
    """
    background = _quantile(_border(gray), 0.5)
    # Extremes, not percentiles: a thin pen's strokes can be 0.2% of the frame. Outliers
    # rarely mislead: dust and glare side with the ink's polarity, or are far weaker.
    if gray.max() - background < background - gray.min():
        return 255 - gray
    return gray


def _border(image: np.ndarray) -> np.ndarray:
    """The pixels of a frame 1/20 of the short side wide: paper, mostly, where a digit is shot."""
    height, width = image.shape
    r = max(1, min(height, width) // 20)
    return np.concatenate(
        [image[:r].ravel(), image[-r:].ravel(), image[:, :r].ravel(), image[:, -r:].ravel()]
    )


def _remove_background(ink: np.ndarray) -> np.ndarray:
    """Subtract the paper's brightness field, zero the noise, stretch the ink to peak at 255.

    What is left of the paper is noise around a level, measured on the border (ink may
    cover most of the frame); ink is what stands clearly above it. Subtracting the
    threshold (rather than cutting at it) keeps the strokes' soft edges.
    """
    signal = ink - _paper_field(ink)
    paper = _border(signal)
    level = _quantile(paper, 0.5)
    noise = 1.4826 * _quantile(np.abs(paper - level), 0.5)  # robust standard deviation
    threshold = level + max(_NOISE_SIGMAS * noise, _MIN_CONTRAST / 2)

    strokes = signal[signal > threshold]
    if strokes.size == 0:
        return np.zeros_like(signal)
    peak = _quantile(strokes, 0.95)
    if peak - level < _MIN_CONTRAST:
        return np.zeros_like(signal)
    return np.clip((signal - threshold) * (255 / (peak - threshold)), 0, 255)


def _paper_field(ink: np.ndarray) -> np.ndarray:
    """The paper's brightness at every pixel: a cubic surface fitted under the ink.

    Lighting gradients and vignetting are smooth, so a low-order surface follows them up to
    the frame's edges, where local estimates run out of data. It is fitted to one low
    percentile per block by asymmetric least squares: blocks above the surface (ink) weigh
    almost nothing, those below (paper) fully, so it settles on the paper however much
    of the frame the ink covers.
    """
    border = _border(ink)
    if border.max() - border.min() < _MIN_CONTRAST / 2:  # evenly lit: nothing to fit
        return np.full_like(ink, _quantile(border, 0.5))
    height, width = ink.shape
    block = math.ceil(max(height, width) / _PAPER_GRID)
    rows, cols = height // block, width // block
    if rows < 2 or cols < 2:
        return np.full_like(ink, _quantile(ink, 0.5))
    blocks = ink[: rows * block, : cols * block].reshape(rows, block, cols, block)
    levels = np.percentile(blocks.transpose(0, 2, 1, 3).reshape(rows, cols, -1), 25, axis=2)

    # Surface = Y @ C @ X.T with Y, X powers 0..3 of the coordinates and C[i, j] = 0
    # for i + j > 3; coordinates run over [-1, 1] across the whole frame.
    ys = _powers((np.arange(rows) + 0.5) * block / height * 2 - 1)  # (rows, 4)
    xs = _powers((np.arange(cols) + 0.5) * block / width * 2 - 1)  # (cols, 4)
    design = np.einsum("ri,cj->rcij", ys, xs)[:, :, _CUBIC].reshape(rows * cols, -1)  # (n, 10)
    target = levels.ravel()
    above = np.zeros(target.shape, bool)
    for _ in range(_FIT_ROUNDS):
        root_weight = np.where(above, math.sqrt(_INK_WEIGHT), 1.0)[:, None]  # (n, 1)
        coef = np.linalg.lstsq(design * root_weight, target * root_weight[:, 0])[0]
        now_above = target > design @ coef
        if (now_above == above).all():
            break
        above = now_above

    matrix = np.zeros((4, 4))
    matrix[_CUBIC] = coef
    ys = _powers((np.arange(height) + 0.5) / height * 2 - 1)  # (H, 4)
    rows_of_x = matrix @ _powers((np.arange(width) + 0.5) / width * 2 - 1).T  # (4, W)
    # einsum, not @: a (H, 4) @ (4, W) BLAS call spends more on threads than on sums.
    return np.einsum("hi,iw->hw", ys.astype(np.float32), rows_of_x.astype(np.float32))


def _quantile(values: np.ndarray, q: float) -> float:
    """``np.quantile(values, q)`` (linear interpolation), by sorting when the values are few:
    on the few hundred pixels of a small image's border, np.quantile's generality costs
    several times the sort itself, and a 28×28 digit takes five of them."""
    if values.size > _SORT_MAX:
        return float(np.quantile(values, q))
    ordered = np.sort(values, axis=None)
    position = q * (ordered.size - 1)
    low = int(position)
    high = min(low + 1, ordered.size - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


_CUBIC = np.add.outer(np.arange(4), np.arange(4)) <= 3  # the (i, j) of y**i * x**j kept


def _powers(t: np.ndarray) -> np.ndarray:
    """Columns t**0 .. t**3."""
    return np.vander(t, 4, increasing=True)


def _ink_bbox(ink: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), half-open, of the ink, leaving out specks set apart.

    Start from the rows/columns that hold the middle 96% of the ink, then grow outwards
    while the next row/column still holds ink: a stroke's tip is reached, a dust speck
    across an empty gap is not.
    """
    return (*_ink_span(ink.sum(axis=1)), *_ink_span(ink.sum(axis=0)))


def _ink_span(mass: np.ndarray) -> tuple[int, int]:
    cumulative = np.cumsum(mass)
    start = int(np.searchsorted(cumulative, _SPECK * cumulative[-1]))
    stop = int(np.searchsorted(cumulative, (1 - _SPECK) * cumulative[-1])) + 1
    present = mass > _BBOX_FLOOR * mass.max()
    while start > 0 and present[start - 1]:
        start -= 1
    while stop < mass.size and present[stop]:
        stop += 1
    return start, stop


def _thicken(ink: np.ndarray) -> np.ndarray:
    """Widen strokes that would end up thinner than MNIST's, grey dilation with a square pen.

    A ballpoint photographed from arm's length draws lines about 1/60 of the digit's
    height; MNIST's are about 1/8, and a network trained on them reads hairlines poorly.
    Width is estimated as area / half the perimeter, the perimeter as the total variation.
    """
    inside = np.abs(ink[1:] - ink[:-1]).sum() + np.abs(ink[:, 1:] - ink[:, :-1]).sum()
    # Strokes cut by the crop have an edge there too: ink >= 0 steps down to nothing outside.
    rim = ink[0].sum() + ink[-1].sum() + ink[:, 0].sum() + ink[:, -1].sum()
    variation = inside + rim
    scale = BOX / max(ink.shape)  # crop pixels to box pixels
    width = 2 * float(ink.sum()) / float(variation) * scale
    if width >= _THIN_STROKE:
        return ink
    radius = round((_STROKE - width) / scale / 2)
    pen = 2 * radius + 1
    thick = np.pad(ink, 2 * radius)  # room to grow, and to slide the pen over
    thick = sliding_window_view(thick, pen, axis=0).max(axis=-1)  # (h + 2r, w + 4r)
    return sliding_window_view(thick, pen, axis=1).max(axis=-1)  # (h + 2r, w + 2r)


def _fit_box(ink: np.ndarray) -> np.ndarray:
    """Scale so the long side is ``BOX`` pixels, keeping the aspect ratio; peak back at 255."""
    height, width = ink.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = Image.fromarray(np.ascontiguousarray(ink, dtype=np.float32))
    scaled = np.clip(np.asarray(image.resize(size, Image.Resampling.LANCZOS)), 0, None)
    return scaled * (255 / scaled.max())  # resampling keeps the ink's sum, so max > 0


def _center_by_mass(digit: np.ndarray) -> np.ndarray:
    """Paste into 28x28 so the centre of mass lands on pixel (14, 14), clipping at the edges.

    (14, 14) in row/column indices is where MNIST's own digits have it, on average.
    """
    height, width = digit.shape
    total = digit.sum()
    com_y = float((digit.sum(axis=1) * np.arange(height)).sum() / total)
    com_x = float((digit.sum(axis=0) * np.arange(width)).sum() / total)
    top, left = round(SIZE // 2 - com_y), round(SIZE // 2 - com_x)

    out = np.zeros((SIZE, SIZE), np.float32)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + height, SIZE), min(left + width, SIZE)
    out[y0:y1, x0:x1] = digit[y0 - top : y1 - top, x0 - left : x1 - left]
    return out
