"""One digit's ink to MNIST's form, the way MNIST itself was made.

LeCun, Bottou, Bengio & Haffner (1998), section III-A, and http://yann.lecun.com/exdb/mnist/:
NIST's bilevel digits were "size normalized to fit in a 20x20 pixel box while preserving
their aspect ratio", anti-aliased to gray levels by that scaling, then "centered in a 28x28
image by computing the center of mass of the pixels". Here the bilevel digit is the ink
mask of the photo; its strokes are first brought to MNIST's width, since a fine pen or a
marker far from it is read less well by a network trained on MNIST.
"""

from __future__ import annotations

import cv2
import numpy as np

SIZE = 28
"""Side of the network's input."""

BOX = 20
"""MNIST's digits fit a BOX x BOX square, centred by mass in the SIZE x SIZE field."""

_THIN = 1.2  # stroke width in box pixels: thinner strokes (about MNIST's 1st percentile) widen ...
_THICK = 3.7  # ... thicker ones (about its 99th) narrow ...
_STROKE = 2.0  # ... to about its median width
_EDGE = 0.25  # of the peak: the least ink inside the digit's box


def mnist_form(ink: np.ndarray) -> np.ndarray:
    """A digit's ink (float32 0 paper .. 1 ink, cropped to the digit) → float32 (28, 28),
    0–255, light on dark."""
    return center_by_mass(fit_box(even_strokes(ink), edge=_EDGE))


def refit(ink: np.ndarray) -> np.ndarray:
    """An image in MNIST's form already (float32 0..1) → float32 (28, 28), 0–255: fitted
    to the box and centred again, its strokes and soft edges as they were: MNIST's own
    digits come back as they were."""
    return center_by_mass(fit_box(ink, edge=0.0))


def stroke_width(ink: np.ndarray) -> float:
    """Mean stroke width in pixels: area over half the outline's length (the total
    variation, so soft edges count as they should)."""
    outline = float(
        np.abs(np.diff(ink, axis=0)).sum()
        + np.abs(np.diff(ink, axis=1)).sum()
        + ink[0].sum()
        + ink[-1].sum()
        + ink[:, 0].sum()
        + ink[:, -1].sum()
    )
    return 2 * float(ink.sum()) / max(outline, 1e-6)


def even_strokes(ink: np.ndarray) -> np.ndarray:
    """Widen hairlines and narrow marker strokes towards ``_STROKE`` box pixels (grey
    dilation or erosion with a round pen)."""
    scale = BOX / max(ink.shape)  # ink pixels to box pixels
    width = stroke_width(ink) * scale
    if _THIN <= width <= _THICK:
        return ink
    radius = round(abs(_STROKE - width) / scale / 2)
    if radius == 0:
        return ink
    pen = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    if width < _THIN:
        grown = cv2.copyMakeBorder(ink, radius, radius, radius, radius, cv2.BORDER_CONSTANT)
        return cv2.dilate(grown, pen)
    thinner = cv2.erode(ink, pen)
    return thinner if thinner.max() > 0.5 else ink


def fit_box(ink: np.ndarray, *, edge: float) -> np.ndarray:
    """Crop to the ink, scale so the long side is ``BOX`` pixels keeping the aspect ratio
    (area averaging anti-aliases, as MNIST's scaling did); float32, peak at 255.

    The crop holds the pixels inked more than ``edge`` of the peak. For a photo's ink
    (``_EDGE``) that is the box of the bilevel drawing, as MNIST's was, so that the soft
    edge's faintest halo does not shrink the digit."""
    least = edge * float(ink.max())
    rows = np.nonzero(ink.max(axis=1) > least)[0]
    cols = np.nonzero(ink.max(axis=0) > least)[0]
    ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = ink.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    scaled: np.ndarray = np.clip(cv2.resize(ink, size, interpolation=interpolation), 0, None)
    # Divided first: x / peak is at most 1, and the peak's exactly 1, in float32 as in any
    # IEEE arithmetic, so nothing passes 255; x * (255 / peak) can (255.00002).
    stretched: np.ndarray = scaled / scaled.max() * 255
    return stretched


def center_by_mass(digit: np.ndarray) -> np.ndarray:
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
