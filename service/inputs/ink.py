"""Where the ink is in a photo: darker than the paper *locally*, whatever the light does.

A person finds a digit on a sheet by comparing each stroke with the paper right around it,
not with one brightness for the whole frame. So does this module:

1. Polarity: dark ink on light paper, or light chalk on a dark board. Ink is thin, so it is
   the farthest outlier from its smoothed surroundings, whichever way it lies.
2. The paper's own brightness everywhere: a morphological closing (grey dilation, then
   erosion) with a window wider than any stroke wipes the strokes out and keeps everything
   wider, including the sharp edge of a hard shadow or of the sheet itself.
3. Ink is what is darker than that by a clear share (the contrast map): shadows and light
   fall-off divide out. Two thresholds (hysteresis): a stroke must reach the high one
   somewhere, and keeps every connected pixel above the low one. Along the sharp edges of
   the paper's light, where lenses leave thin dark seams, only clear ink counts.
4. Printed rules: long thin straight lines across or down the sheet, found by a Hough
   transform and kept out of the ink where they are no darker than the rule's own print;
   where a stroke crosses a rule, the stroke's darker ink stays.
5. Ink is darker than the paper on every side: a piece whose darkness goes on past it is
   a shadow the closing could not follow round its curve, or a streak of a desk's grain.
6. A second look, only where the first found no digit: fainter strokes (a pale palette's
   gray, a light pencil) count too.

Everything runs at ``WORKING_SIDE`` on the long side; ``digits`` then sorts the ink.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

WORKING_SIDE = 448
"""Photos are reduced to about this long side before the search (a digit a tenth of the
frame's width is still ~34 px tall), unless at most ``_SLACK`` times longer already: a JPEG
decoded at half scale often is, and resampling it again would cost more than it saves."""

_SLACK = 1.25

SMALL_FRAME = 64
"""Pixels, long side: a frame this small is a crop around the digit (an MNIST-sized
upload), which may touch its edges; in a larger one, ink the frame cuts is not a digit."""

_BACKGROUND_WINDOW = 0.3  # of the short side: wider than any stroke of a digit in frame ...
_LONG_WINDOW = 0.15  # ... and of the long side: a tight crop of a 1 is narrower than that
_NOISE_SIGMAS = 5.0
CUT_SIZE = 0.3  # of the frame's side: a digit cropped too tightly spans at least this ...
CUT_SHARE = 0.8  # ... and meets the frame along at most this share of its extent there
_STANDS_OUT = 0.2  # of a blob the frame cuts: less standing out of it is no digit joined to it
_EDGE_STEP = 10  # a tenth of the paper's level across 3 px: a sharp edge of its light ...
_EDGE_INK = 0.4  # ... along which only ink of at least this contrast counts ...
_SEAM = 0.6  # ... and ink this much within ...
_SEAM_REACH = 10  # ... this many pixels of such edges is a seam of the sheet, or a shadow's
_NEAR = np.ones((3, 3), np.uint8)
_LOW = 0.08  # contrast: the least that counts as ink next to a stroke ...
_HIGH = 0.18  # ... and the least a stroke must reach somewhere ...
_FAINT_HIGH = 0.12  # ... or, on the second look, a faint one
_CONTINUED = 0.25  # of a piece's rim: this much as dark as the piece is a shadow's, not ink
_RULE_LENGTH = 0.5  # of the frame's side: a printed rule runs at least this far
_RULE_TILT = math.radians(20)  # the most a sheet is turned in the frame
_RULE_INK = 0.4  # contrast: printed rules are lighter than this (a pen is darker)
_SAME_TURN = math.radians(2)  # Hough cells this close in angle (and 3 px) are one line
_MOST_RULES = 40  # lines looked at per direction: a page of ruled paper has about 25
_RULE_ANGLES = (  # Hough's theta ranges (radians) and which frame side a rule runs along
    (math.pi / 2 - _RULE_TILT, math.pi / 2 + _RULE_TILT, 0),  # across: along the width
    (0.0, _RULE_TILT, 1),  # down, leaning one way: along the height
    (math.pi - _RULE_TILT, math.pi, 1),  # and the other
)
_POLARITY_SIDE = 128  # px: the polarity is told at this long side


@dataclass(frozen=True)
class Ink:
    """The ink of one photo at working size: ``contrast`` (float32, 0 paper .. 1 black,
    relative to the paper around it) and ``mask`` (uint8 0/1, the pixels taken as ink)."""

    contrast: np.ndarray
    mask: np.ndarray
    floor: float
    """The least contrast taken for ink: the paper's noise stays below it."""


def to_working_size(gray: np.ndarray) -> np.ndarray:
    """Area-average down to ``WORKING_SIDE`` on the long side; smaller images, and those
    not much larger, stay as they are."""
    height, width = gray.shape
    if max(height, width) <= _SLACK * WORKING_SIDE:
        return gray
    factor = WORKING_SIDE / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


def find_ink(gray: np.ndarray, *, faint: bool = False) -> Ink:
    """The ink of a gray (H, W) uint8 photo, as a light-on-dark contrast map and a mask;
    ``faint``: the second look, for a photo in which the first found no digit."""
    dark_ink = _is_dark_on_light(gray)
    paper = gray if dark_ink else 255 - gray
    background = _background(paper)
    level = np.maximum(background, 1).astype(np.float32)
    contrast = np.clip((level - paper) / level, 0, 1)
    smooth = cv2.blur(contrast, (3, 3))  # thresholds act on it: noise is not a stroke
    low, high = _thresholds(smooth)
    least = max(_FAINT_HIGH, low) if faint else high  # what a stroke must reach somewhere
    weak = (smooth > low).astype(np.uint8)
    # Along a sharp edge of the paper's own light (the sheet's edge, a hard shadow's),
    # lenses and phones leave thin dark seams: there, only a clear stroke counts.
    edges = _edges(background)
    weak[(cv2.dilate(edges, _NEAR, iterations=2) > 0) & (smooth <= _EDGE_INK)] = 0
    rules = _rules(weak, smooth)
    if rules is not None:  # on a rule, only what is nearer the pen's ink than the rule counts
        on_rule = rules >= 0
        pen = smooth[(smooth > high) & ~on_rule]
        pen_level = float(np.median(pen)) if pen.size else 2 * float(rules.max())
        weak[on_rule & (smooth <= (rules + pen_level) / 2)] = 0
    along_edges = cv2.dilate(edges, _NEAR, iterations=_SEAM_REACH)
    mask = _sorted_out(_hysteresis(weak, smooth > least), smooth, high, along_edges)
    mask = _without_continued_darkness(mask, paper, background, smooth, high)
    return Ink(contrast, mask, low)


def _is_dark_on_light(gray: np.ndarray) -> bool:
    """Whether the ink is darker than its background.

    Ink is thin: against its own surroundings, smoothed wider than any stroke, a
    stroke stands out by nearly the full ink-paper contrast, while the background between
    strokes stands out the other way only by the share of ink nearby. So the farthest
    outlier, dark or light, is the ink. A desk's edge is as dark on one side as it is light
    on the other, and a bold digit filling the frame is still thin against that width.
    """
    height, width = gray.shape
    factor = min(1.0, _POLARITY_SIDE / max(height, width))
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    surroundings = _wide_blur(small, _wider_than_strokes(small.shape))
    detail = small - surroundings
    return -float(detail.min()) >= float(detail.max())


def _wide_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of ``sigma`` px, done at a quarter of the size: what it leaves is
    smooth anyway, and a true Gaussian this wide costs far more."""
    height, width = image.shape
    small = cv2.resize(
        image, (max(1, width // 4), max(1, height // 4)), interpolation=cv2.INTER_AREA
    )
    blurred = cv2.GaussianBlur(small, (0, 0), sigma / 4 + 0.5)
    return cv2.resize(blurred, (width, height), interpolation=cv2.INTER_LINEAR)


def _wider_than_strokes(shape: tuple[int, ...]) -> float:
    """Pixels: wider than any stroke of a digit in a frame of ``shape``, however tightly
    the frame is cropped around it."""
    return max(_BACKGROUND_WINDOW * min(shape), _LONG_WINDOW * max(shape))


def _background(paper: np.ndarray) -> np.ndarray:
    """The paper's own brightness at every pixel (uint8): strokes closed over."""
    height, width = paper.shape
    side = max(3, int(_wider_than_strokes(paper.shape)) | 1)
    smooth = cv2.blur(paper, (3, 3)) if min(height, width) >= 3 else paper  # noise's maxima
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (side, side))
    return cv2.morphologyEx(smooth, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REPLICATE)


def _edges(background: np.ndarray) -> np.ndarray:
    """Where the paper's light steps sharply (uint8 0/1): a change of
    more than 1/``_EDGE_STEP`` of its level across 3 pixels."""
    step = cv2.morphologyEx(background, cv2.MORPH_GRADIENT, _NEAR)  # uint8: max - min
    return (step > background // _EDGE_STEP).astype(np.uint8)


def _thresholds(contrast: np.ndarray) -> tuple[float, float]:
    """The low and high contrast thresholds, both above the paper's noise."""
    low = max(_LOW, _NOISE_SIGMAS * _noise(contrast))
    return low, max(_HIGH, 2 * low)


def _hysteresis(weak: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """The ``weak`` pixels connected to a ``strong`` one (uint8 0/1)."""
    count, labels = cv2.connectedComponents(weak, connectivity=8)
    reached = np.unique(labels[strong])
    keep = np.zeros(count, np.uint8)
    keep[reached[reached > 0]] = 1
    grown: np.ndarray = keep[labels]
    return grown


def _sorted_out(
    mask: np.ndarray, contrast: np.ndarray, high: float, edges: np.ndarray
) -> np.ndarray:
    """The mask less seams, and with ink that the frame cuts taken apart.

    A piece of ink lying mostly along sharp edges of the paper's light is a seam (the dark
    line a sheet's edge leaves) or a sliver of a hard shadow the closing could not follow
    round its curve, not a stroke, however dark.

    Ink cut by the frame is a desk, or paper the closing misjudged where a shadow's edge
    meets the frame (the closing's window, cut by the frame, cannot follow the shadow into
    that corner). A digit near such a place joins it and would be dropped with it; its
    strokes are darker than the misjudged paper around them, and stand out again: of such
    ink, only what is darker than its own level by a stroke's contrast is kept; but ink
    shaped like a digit cropped too tightly (``briefly_cut``), out of which nothing stands,
    is that digit, and is left whole.
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    on_edges = np.bincount(labels[edges > 0], minlength=count)
    seams = on_edges > _SEAM * stats[:, cv2.CC_STAT_AREA]
    height, width = mask.shape
    left, top = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    right, bottom = left + stats[:, cv2.CC_STAT_WIDTH], top + stats[:, cv2.CC_STAT_HEIGHT]
    cut = (left == 0) | (top == 0) | (right == width) | (bottom == height)
    cut &= max(height, width) > SMALL_FRAME  # a frame that small is the digit's own crop
    seams[0] = cut[0] = False  # the background
    if not (cut.any() or seams.any()):
        return mask
    kept = mask.copy()
    kept[seams[labels]] = 0
    cut &= ~seams
    if not cut.any():
        return kept
    blob = cut[labels]  # (H, W): every pixel of ink the frame cuts
    # Each blob's own level is measured where the frame cuts it: the desk's, or the
    # misjudged paper's there (its darker part), not a digit's that joined it further in.
    on_frame = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    at_frame = np.concatenate([contrast[0], contrast[-1], contrast[:, 0], contrast[:, -1]])
    levels = np.zeros(count, np.float32)
    for label in np.nonzero(cut)[0]:
        levels[label] = np.percentile(at_frame[on_frame == label], 90)
    kept[blob] = (contrast[blob] > levels[labels[blob]] + high).astype(np.uint8)
    # Nothing stands out of a digit cropped too tightly: its level is its strokes' own.
    left_over = np.bincount(labels[blob], weights=kept[blob], minlength=count)
    whole = briefly_cut(labels, stats, cut) & (left_over < _STANDS_OUT * stats[:, cv2.CC_STAT_AREA])
    kept[whole[labels]] = 1
    return kept


def _without_continued_darkness(
    mask: np.ndarray,
    paper: np.ndarray,
    background: np.ndarray,
    contrast: np.ndarray,
    high: float,
) -> np.ndarray:
    """The mask less the pieces whose darkness goes on past them: of the paper 3–4 pixels
    around a piece (past the blurred rim of a stroke), more than ``_CONTINUED`` is nearer the
    darkness of the ink beside it than the paper level taken for that ink. Of such a piece
    only what stands out of it by a stroke's contrast (``high``) is kept: a digit the
    shadow touched.

    Ink is darker than the paper on every side. Where the closing cannot follow a hard
    shadow round its curve, it takes the lit level for the paper just inside the shadow,
    and that crescent of shadow stands out like a stroke; but past its inner side the
    shadow goes on, as dark. Each rim pixel is held against the ink within 5 pixels of it,
    so a stroke running from the light into a shadow is not. The crescent's own level is
    taken beside where its darkness goes on.
    """
    window = _around(mask, 10)  # a rim and the ink beside it lie within 10 px of the ink
    if window is None:
        return mask
    whole = mask  # the filters below cost by the pixel, and most of a photo is paper
    mask, paper, background, contrast = (a[window] for a in (mask, paper, background, contrast))
    count, labels = cv2.connectedComponents(mask, connectivity=8)
    ink = mask.astype(np.float32)
    near = (11, 11)
    share = np.maximum(cv2.blur(ink, near), 1e-6)
    ink_level = cv2.blur(paper * ink, near) / share  # the nearby ink's own gray ...
    paper_level = cv2.blur(background * ink, near) / share  # ... and its paper's
    rim = (cv2.dilate(mask, np.ones((9, 9), np.uint8)) > 0) & ~(
        cv2.dilate(mask, np.ones((5, 5), np.uint8)) > 0
    )
    owner = cv2.dilate(labels.astype(np.float32), np.ones((9, 9), np.uint8)).astype(np.int32)
    dark = rim & (paper <= (ink_level + paper_level) / 2)
    continued = np.bincount(owner[dark], minlength=count) > _CONTINUED * np.bincount(
        owner[rim], minlength=count
    )
    continued[0] = False
    if not continued.any():
        return whole
    beside = cv2.dilate(dark.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    levels = np.zeros(count, np.float32)
    for label in np.nonzero(continued)[0]:
        levels[label] = np.percentile(contrast[beside & (labels == label)], 90)
    pieces = continued[labels]
    kept = whole.copy()
    kept[window][pieces] = contrast[pieces] > levels[labels[pieces]] + high
    return kept


def _around(mask: np.ndarray, margin: int) -> tuple[slice, slice] | None:
    """The box of ``mask``'s pixels widened by ``margin`` on each side, within the frame;
    None if it has none."""
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if rows.size == 0:
        return None
    height, width = mask.shape
    return (
        slice(max(int(rows[0]) - margin, 0), min(int(rows[-1]) + 1 + margin, height)),
        slice(max(int(cols[0]) - margin, 0), min(int(cols[-1]) + 1 + margin, width)),
    )


def briefly_cut(labels: np.ndarray, stats: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """Of the components flagged in ``cut`` (``labels`` and ``stats`` as OpenCV's connected
    components give them), a digit cropped too tightly: large in the frame, and meeting each
    side it touches along at most ``CUT_SHARE`` of its own extent there. Its strokes run
    into the frame; a desk, a sheet's edge, a shadow or a seam runs along it."""
    height, width = labels.shape
    sides = (  # the frame's pixels on each side, and each component's extent along it
        (labels[0], stats[:, cv2.CC_STAT_WIDTH]),
        (labels[-1], stats[:, cv2.CC_STAT_WIDTH]),
        (labels[:, 0], stats[:, cv2.CC_STAT_HEIGHT]),
        (labels[:, -1], stats[:, cv2.CC_STAT_HEIGHT]),
    )
    brief: np.ndarray = cut & (
        (stats[:, cv2.CC_STAT_WIDTH] >= CUT_SIZE * width)
        | (stats[:, cv2.CC_STAT_HEIGHT] >= CUT_SIZE * height)
    )
    for side, extent in sides:
        brief &= np.bincount(side, minlength=len(stats)) <= CUT_SHARE * extent
    return brief


def _noise(contrast: np.ndarray) -> float:
    """The paper's contrast noise, as a standard deviation: from the median, the frame's or
    its middle's, whichever is lower (a desk can cover half the edges, a digit the middle);
    the paper's contrast is about half-normal (the closing lies over its noise)."""
    height, width = contrast.shape
    middle = contrast[height // 4 : height - height // 4 : 2, width // 4 : width - width // 4 : 2]
    every = contrast[::3, ::3]
    median = min(float(np.median(every)), float(np.median(middle)) if middle.size else 1.0)
    return median / 0.6745


def _rules(weak: np.ndarray, contrast: np.ndarray) -> np.ndarray | None:
    """Printed rules, or None: straight lines across or down the sheet, at least
    ``_RULE_LENGTH`` of the frame long, thin, and printed lighter than a pen writes.

    A Hough transform at half size finds them among the thin parts of the ``weak`` mask
    (a rule fades in and out of it; the transform only counts votes; a desk's band or a
    bold stroke does not vote). The result is a map (float32, -1 off the rules) of each
    rule's own contrast along it.
    """
    height, width = weak.shape
    opened: np.ndarray = cv2.morphologyEx(weak, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    thin = weak & ~opened
    size = (max(1, width // 2), max(1, height // 2))
    half = (cv2.resize(thin * 255, size, interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    found = []
    for low, top, side in _RULE_ANGLES:
        votes = int(_RULE_LENGTH * half.shape[1 - side])
        if votes >= 10:
            lines = cv2.HoughLines(half, 1, math.pi / 360, votes, min_theta=low, max_theta=top)
            found += [] if lines is None else _distinct(lines[:, 0])
    ends = [e for e in (_line_ends(2 * rho, theta, width, height) for rho, theta in found) if e]
    if not ends:
        return None
    rules = np.full(weak.shape, -1.0, np.float32)
    for (start, stop), level in zip(ends, _levels_on_lines(contrast, ends), strict=True):
        if level <= _RULE_INK:  # darker, it is drawn: a stroke, not a printed rule
            cv2.line(rules, start, stop, float(level), 3)
    return rules if rules.max() > 0 else None


def _distinct(lines: np.ndarray) -> list[tuple[float, float]]:
    """One (rho, theta) per rule: Hough gives a printed line a few neighbouring cells; the
    best voted comes first, and later ones within a cell or two of it are the same line."""
    kept = np.empty((0, 2), np.float32)
    for line in lines:
        near = (np.abs(kept[:, 0] - line[0]) <= 3) & (np.abs(kept[:, 1] - line[1]) <= _SAME_TURN)
        if not near.any():
            kept = np.vstack([kept, line])
            if len(kept) == _MOST_RULES:
                break
    return [(float(rho), float(theta)) for rho, theta in kept]


def _line_ends(
    rho: float, theta: float, width: int, height: int
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """Where the line x cos(theta) + y sin(theta) = rho enters and leaves the frame."""
    cos, sin = math.cos(theta), math.sin(theta)
    points: list[tuple[float, float]] = []
    if abs(sin) > 1e-6:  # crossings with the left and right edges
        points += [(x, (rho - x * cos) / sin) for x in (0, width - 1)]
    if abs(cos) > 1e-6:  # with the top and bottom edges
        points += [((rho - y * sin) / cos, y) for y in (0, height - 1)]
    inside = [(round(x), round(y)) for x, y in points if -1 <= x <= width and -1 <= y <= height]
    if len(inside) < 2:
        return None
    return inside[0], inside[-1]


def _levels_on_lines(
    contrast: np.ndarray, ends: list[tuple[tuple[int, int], tuple[int, int]]]
) -> np.ndarray:
    """For each line, the median contrast along it: a rule's own (the darkest of the three
    pixels across it, as Hough's line may run a pixel beside the rule's middle); near
    zero for a line that only a stroke happens to lie along (the rest of it is paper)."""
    height, width = contrast.shape
    steps = np.linspace(0, 1, max(height, width))[None, :]  # (1, S)
    (x0, y0), (x1, y1) = (
        np.array(side, np.float64).T[:, :, None] for side in zip(*ends, strict=True)
    )
    length = np.maximum(np.hypot(x1 - x0, y1 - y0), 1.0)  # (L, 1)
    across_x, across_y = -(y1 - y0) / length, (x1 - x0) / length  # unit normals (L, 1)
    levels = []
    for offset in (-1.0, 0.0, 1.0):
        xs = np.rint(x0 + (x1 - x0) * steps + offset * across_x)
        ys = np.rint(y0 + (y1 - y0) * steps + offset * across_y)
        xs = np.clip(xs, 0, width - 1).astype(np.intp)  # (L, S)
        ys = np.clip(ys, 0, height - 1).astype(np.intp)  # (L, S)
        levels.append(contrast[ys, xs])
    along: np.ndarray = np.median(np.max(levels, axis=0), axis=1)
    return along
