"""An MNIST digit as pen strokes at any size: its writer's own strokes, or as a finer or a
bolder pen would have drawn them.

MNIST's 28x28 gray levels are an anti-aliased bilevel drawing (LeCun et al., 1998, III-A).
Scaled up (bilinear) and cut at a third of full ink they give back that drawing's outline
at any size: the writer's own strokes. A bolder pen is that outline grown by a round nib; a
finer pen is the outline worn down, kept joined along its centre line (morphological
thinning, Gonzalez & Woods, "Digital Image Processing", 9.5.5) so that no stroke breaks.
Each way keeps the digit what its label says for the network (``python -m evaluation
--check-strokes`` measures it).
"""

from __future__ import annotations

import cv2
import numpy as np

_OUTLINE_LEVEL = 0.35  # of full ink: where the anti-aliased edge is cut
_THINNING_SCALE = 4  # MNIST pixels to thinning pixels: strokes ~8 px wide, spurs short
_SPUR_STEPS = 3  # thinning pixels trimmed off every branch end: the spurs thinning leaves


def _thinning_elements() -> list[np.ndarray]:
    """The eight hit-or-miss elements of classic thinning: 1 ink, -1 paper, 0 either."""
    edge = np.array([[-1, -1, -1], [0, 1, 0], [1, 1, 1]], np.int32)
    corner = np.array([[0, -1, -1], [1, 1, -1], [1, 1, 0]], np.int32)
    return [np.rot90(element, k).copy() for k in range(4) for element in (edge, corner)]


_ELEMENTS = _thinning_elements()
_NEIGHBOURS = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], np.float32)


def ink_box(digit: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), half-open, of an MNIST digit's nonzero pixels."""
    rows, cols = np.nonzero(digit)
    return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1


def written(digit: np.ndarray, height: float, width: float | None) -> np.ndarray:
    """The digit as coverage (float32, 0..1), its ink box ``height`` px tall, drawn with a
    pen ``width`` px wide, or with its writer's own strokes when ``width`` is None."""
    if width is None:
        return own_strokes(digit, height)
    own = stroke_width(_outline(digit, _scale(digit, height)))
    return (
        finer_strokes(digit, height, width) if width < own else bolder_strokes(digit, height, width)
    )


def own_strokes(digit: np.ndarray, height: float) -> np.ndarray:
    """The writer's own strokes as coverage (float32, 0..1), the ink box ``height`` px tall.

    The array is the whole 28x28 field scaled (MNIST's empty margin included).
    """
    return _antialias(_outline(digit, _scale(digit, height)))


def bolder_strokes(digit: np.ndarray, height: float, width: float) -> np.ndarray:
    """As a pen ``width`` px wide would draw it: the outline grown by a round nib."""
    outline = _outline(digit, _scale(digit, height))
    grow = round((width - stroke_width(outline)) / 2)
    if grow > 0:
        outline = cv2.dilate(outline, _disc(grow))
    return _antialias(outline)


def finer_strokes(digit: np.ndarray, height: float, width: float) -> np.ndarray:
    """As a pen ``width`` px wide would draw it: the outline worn down by a round nib, and
    the centre line drawn ``width`` wide wherever wearing would break a stroke."""
    scale = _scale(digit, height)
    outline = _outline(digit, scale)
    wear = round((stroke_width(outline) - width) / 2)
    worn = cv2.erode(outline, _disc(wear)) if wear > 0 else outline
    centre = _prune(_thin(_outline(digit, _THINNING_SCALE)))
    # Distance to the centre line, in output pixels, resampled from the thinning grid.
    distance = cv2.distanceTransform(1 - centre, cv2.DIST_L2, 5)
    factor = scale / _THINNING_SCALE
    distance = cv2.resize(distance, worn.shape[::-1], interpolation=cv2.INTER_LINEAR) * factor
    line = (distance <= width / 2).astype(np.uint8)
    return _antialias(np.maximum(worn, line))


def stroke_width(outline: np.ndarray) -> float:
    """Mean width of a binary drawing's strokes: its area over half its outline's length."""
    edges = (
        np.abs(np.diff(outline.astype(np.int8), axis=0)).sum()
        + np.abs(np.diff(outline.astype(np.int8), axis=1)).sum()
    )
    return 2 * float(outline.sum()) / max(float(edges), 1.0)


def _scale(digit: np.ndarray, height: float) -> float:
    top, bottom, _, _ = ink_box(digit)
    return height / (bottom - top)


def _outline(digit: np.ndarray, scale: float) -> np.ndarray:
    """The bilevel drawing (uint8 0/1) at ``scale`` x MNIST's size."""
    field = cv2.resize(
        digit.astype(np.float32) / 255, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR
    )
    return (field > _OUTLINE_LEVEL).astype(np.uint8)


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _thin(mask: np.ndarray) -> np.ndarray:
    """Peel ``mask`` (uint8 0/1) with the eight elements until only a 1-pixel line is left."""
    while True:
        before = mask.copy()
        for element in _ELEMENTS:
            mask = mask & ~cv2.morphologyEx(mask, cv2.MORPH_HITMISS, element) & 1
        if np.array_equal(mask, before):
            return mask


def _prune(line: np.ndarray) -> np.ndarray:
    """Trim ``_SPUR_STEPS`` pixels off every end: spurs vanish, strokes lose a hair."""
    for _ in range(_SPUR_STEPS):
        neighbours = cv2.filter2D(line.astype(np.float32), -1, _NEIGHBOURS)
        line = line & ~((neighbours <= 1) & (line == 1)).astype(np.uint8)
    return line


def _antialias(mask: np.ndarray) -> np.ndarray:
    """A hard outline to coverage with a pixel-wide soft edge, as a lens and sensor give it."""
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.7)
