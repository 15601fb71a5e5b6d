"""Which ink is a digit: connected strokes, sorted from what is not (the desk's edge,
specks, anything the frame cuts), grouped into digits, in a row for a number.

A digit is one or a few strokes close together; a stroke broken by a dry pen stays with its
digit because pieces are grouped by their boxes, not by touching. A number is a row of such
groups of about one height; touching digits are cut where the ink is thinnest, and where
the group is no wider than one digit may be, only if the network reads two (a ``Judge``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from service.inputs.ink import SMALL_FRAME, briefly_cut
from service.inputs.mnist_form import stroke_width

_SPECK = 0.04  # of the largest stroke's area: smaller pieces are dust unless inside a digit
_REACH = 0.3  # of a digit's size: how far from its box a broken-off piece may lie ...
_FAINT = 0.5  # ... if at least this share of its contrast (a shadow's sliver has less)
_ROW_HEIGHT = 0.55  # of the row's height: shorter groups are pieces of digits, or specks
_WIDE = 1.15  # of the row's height: a group wider than this may hold touching digits ...
_TWO = 1.5  # ... if also this much wider than the row's single digits are
_LEAST_HEIGHT = 0.03  # of the frame's short side: a digit is at least this tall ...
_LEAST_SIDE = 6  # ... and this many pixels
_WIDEST = 3.0  # of its height: a digit is never wider (a dash, a stub of a line)
_JOINT = 1.6  # strokes across: where touching digits are cut, at most this much ink
_NARROWEST = 0.3  # of the row's height: the narrowest digit a cut may leave (a 1)
_MAYBE_TWO = 0.8  # of the row's height: a group no wider than ``wide`` but this wide may
# still be two touching digits, if the network says so (a ``Judge``) ...
_SURE = 0.9  # ... reading each side as a digit at least this surely, the whole less surely


@dataclass(frozen=True)
class Region:
    """One digit's ink at working size: its box (half-open) and its own pixels (uint8 0/1),
    so that other ink inside the box (a neighbour's tail) is left out."""

    top: int
    bottom: int
    left: int
    right: int
    mask: np.ndarray

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left


@dataclass
class _Stroke:
    label: int
    top: int
    bottom: int
    left: int
    right: int
    area: int


def strokes(mask: np.ndarray, *, cropped: bool = False) -> tuple[np.ndarray, list[_Stroke]]:
    """Connected pieces of ink not cut by the frame, larger than specks, biggest first;
    ``cropped``: also those the frame cuts only briefly, as it does a digit cropped too
    tightly (``ink.briefly_cut``)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    height, width = mask.shape
    small = max(height, width) <= SMALL_FRAME  # a crop around the digit: it may touch it
    left, top = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    right, bottom = left + stats[:, cv2.CC_STAT_WIDTH], top + stats[:, cv2.CC_STAT_HEIGHT]
    touches = (left == 0) | (top == 0) | (right == width) | (bottom == height)
    allowed = ~touches | (small & (right - left < width) & (bottom - top < height))
    if cropped:
        allowed |= briefly_cut(labels, stats, touches & ~allowed)
    found = [
        _Stroke(
            label,
            int(top[label]),
            int(bottom[label]),
            int(left[label]),
            int(right[label]),
            int(stats[label, cv2.CC_STAT_AREA]),
        )
        for label in range(1, count)
        if allowed[label]
    ]
    found.sort(key=lambda s: s.area, reverse=True)
    if found:
        largest = found[0].area
        found = [s for s in found if s.area >= _SPECK * largest]
    return labels, found


def find_digit(mask: np.ndarray, contrast: np.ndarray) -> Region | None:
    """The most prominent digit: the largest stroke shaped like (part of) a digit, and the
    pieces around it as clear as it is; failing that, the same among strokes that the
    frame cuts briefly (a digit cropped too tightly); None if there is none."""
    least = max(_LEAST_SIDE, _LEAST_HEIGHT * min(mask.shape))
    for cropped in (False, True):
        labels, found = strokes(mask, cropped=cropped)
        levels = np.bincount(labels.ravel(), contrast.ravel()) / np.maximum(
            np.bincount(labels.ravel()), 1
        )  # each stroke's mean contrast
        for seed in found:
            clear = [s for s in found if levels[s.label] >= _FAINT * levels[seed.label]]
            group = _grow(seed, clear)
            height, width = _bottom(group) - _top(group), _right(group) - _left(group)
            if height >= least and width <= _WIDEST * height:
                return _region(labels, group)
    return None


Judge = Callable[[list[Region]], list[float]]
"""How surely the network reads each region as one digit: its highest probability."""


def find_number(mask: np.ndarray, judge: Judge | None = None) -> list[Region]:
    """The digits of the row the tallest stroke belongs to, left to right; with a
    ``judge``, also touching digits no wider together than one digit may be."""
    labels, found = strokes(mask)
    least = max(_LEAST_SIDE, _LEAST_HEIGHT * min(mask.shape))
    tall = [s for s in found if s.bottom - s.top >= least]
    if not tall:
        return []
    seed = max(tall, key=lambda s: (s.bottom - s.top, s.area))
    groups = _group_columns(_row(seed, found))
    row_height = float(np.median([_bottom(g) - _top(g) for g in groups]))
    groups = _attach_fragments(groups, row_height)
    widths = [w for w in (_right(g) - _left(g) for g in groups) if w < _WIDE * row_height]
    wide = max(_WIDE * row_height, _TWO * float(np.median(widths)) if widths else 0.0)
    regions = []
    for group in sorted(groups, key=_left):
        regions.extend(_split(_region(labels, group), row_height, wide, judge))
    return regions


def _grow(seed: _Stroke, found: list[_Stroke]) -> list[_Stroke]:
    """``seed`` and every piece within ``_REACH`` of the group's box, until none is left."""
    group = [seed]
    rest = [s for s in found if s is not seed]
    while True:
        top, bottom, left, right = _top(group), _bottom(group), _left(group), _right(group)
        reach = _REACH * max(bottom - top, right - left)
        near = [
            s
            for s in rest
            if s.left < right + reach
            and s.right > left - reach
            and s.top < bottom + reach
            and s.bottom > top - reach
        ]
        if not near:
            return group
        group += near
        rest = [s for s in rest if s not in near]


def _row(seed: _Stroke, found: list[_Stroke]) -> list[_Stroke]:
    """The strokes whose middles lie within the band of ``seed``, the band widening to the
    row's full height as strokes join."""
    row = [seed]
    rest = [s for s in found if s is not seed]
    while True:
        top, bottom = _top(row), _bottom(row)
        slack = 0.25 * (bottom - top)
        joining = [s for s in rest if top - slack <= (s.top + s.bottom) / 2 <= bottom + slack]
        if not joining:
            return row
        row += joining
        rest = [s for s in rest if s not in joining]


def _group_columns(row: list[_Stroke]) -> list[list[_Stroke]]:
    """Strokes stacked over each other (overlapping by half the narrower one's width) are one
    digit: a 5's flag over its belly, a 4 in two strokes."""
    groups: list[list[_Stroke]] = []
    for stroke in sorted(row, key=lambda s: s.left):
        for group in groups:
            overlap = min(_right(group), stroke.right) - max(_left(group), stroke.left)
            if overlap > 0.5 * min(_right(group) - _left(group), stroke.right - stroke.left):
                group.append(stroke)
                break
        else:
            groups.append([stroke])
    return groups


def _attach_fragments(groups: list[list[_Stroke]], row_height: float) -> list[list[_Stroke]]:
    """Groups shorter than a digit are pieces of one (a 5's flag, a 7's bar written apart):
    each joins the digit it overlaps most, or lies nearest to, if that is close; what is
    far from every digit (a dot, a dash) is dropped."""
    digits = [g for g in groups if _bottom(g) - _top(g) >= _ROW_HEIGHT * row_height]
    for piece in (g for g in groups if _bottom(g) - _top(g) < _ROW_HEIGHT * row_height):
        gaps = [
            max(_left(d), _left(piece)) - min(_right(d), _right(piece)) for d in digits
        ]  # negative: they overlap by that much
        if gaps and min(gaps) <= _REACH * row_height:
            digits[int(np.argmin(gaps))].extend(piece)
    return digits


def _split(region: Region, row_height: float, wide: float, judge: Judge | None) -> list[Region]:
    """Cut a group wider than one digit in two where ``_cut`` finds a joint; then each
    side again. A group about a digit wide (a 1 against a 4, two narrow digits leaning
    into each other) is cut only if the ``judge`` reads both sides as digits surely and
    the whole not: recognition deciding the segmentation, as in LeCun et al. (1998),
    section V, where the shape alone cannot tell one wide digit from two narrow ones."""
    judged = region.width <= wide  # about one digit's width: only the network can tell
    if judged and (judge is None or region.width <= _MAYBE_TWO * row_height):
        return [region]
    sides = _cut(region, row_height)
    if sides is None or (judged and judge and not _two_digits(*judge([region, *sides]))):
        return [region]
    return [piece for side in sides for piece in _split(side, row_height, wide, judge)]


def _two_digits(whole: float, left: float, right: float) -> bool:
    """Whether the network's sureness of each side as a digit, and of the whole as one,
    says two digits: both sides sure, the whole not, and the two together surer."""
    return whole < _SURE <= min(left, right) and left * right > whole


def _cut(region: Region, row_height: float) -> tuple[Region, Region] | None:
    """The two sides of the path from top to bottom that crosses the least ink, if that
    is little (at most ``_JOINT`` strokes: where two digits touch, not through a loop) and
    both sides are as tall as digits (not a 5's or 7's bar cut off its body)."""
    narrowest = int(_NARROWEST * row_height)
    if region.width <= 2 * narrowest:
        return None
    path, crossed = _seam(region.mask, narrowest, region.width - narrowest)
    if crossed > _JOINT * stroke_width(region.mask.astype(np.float32)):
        return None
    left_of = np.arange(region.width)[None, :] < path[:, None]  # (height, width)
    left, right = _part(region, region.mask * left_of), _part(region, region.mask * ~left_of)
    if left is None or right is None or min(left.height, right.height) < _ROW_HEIGHT * row_height:
        return None  # (a side with no ink, or a bar cut off its digit)
    return left, right


def _seam(mask: np.ndarray, low: int, high: int) -> tuple[np.ndarray, float]:
    """The top-to-bottom path (a column per row, moving at most one column a row, within
    [low, high)) crossing the fewest ink pixels, by dynamic programming as in seam carving
    (Avidan & Shamir, 2007); and how many it crosses."""
    height, width = mask.shape
    cost = np.where((np.arange(width) >= low) & (np.arange(width) < high), 0.0, np.inf)[
        None, :
    ] + mask.astype(np.float64)  # (height, width)
    total = cost.copy()
    step = np.zeros((height, width), np.int8)  # -1, 0 or +1: where the path came from
    for row in range(1, height):
        above = total[row - 1]
        shifted = np.stack([np.r_[np.inf, above[:-1]], above, np.r_[above[1:], np.inf]])
        step[row] = np.argmin(shifted, axis=0) - 1
        total[row] += shifted.min(axis=0)
    path = np.empty(height, int)
    path[-1] = int(np.argmin(total[-1]))
    for row in range(height - 1, 0, -1):
        path[row - 1] = path[row] + step[row, path[row]]
    return path, float(total[-1, path[-1]])


def _part(region: Region, mask: np.ndarray) -> Region | None:
    """The ink of ``mask`` (a side of ``region``) as its own region, cropped to it."""
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if rows.size == 0:
        return None
    return Region(
        region.top + int(rows[0]),
        region.top + int(rows[-1]) + 1,
        region.left + int(cols[0]),
        region.left + int(cols[-1]) + 1,
        mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1],
    )


def _region(labels: np.ndarray, group: list[_Stroke]) -> Region:
    top, bottom, left, right = _top(group), _bottom(group), _left(group), _right(group)
    window = labels[top:bottom, left:right]
    mask = np.isin(window, [s.label for s in group]).astype(np.uint8)
    return Region(top, bottom, left, right, mask)


def _top(group: list[_Stroke]) -> int:
    return min(s.top for s in group)


def _bottom(group: list[_Stroke]) -> int:
    return max(s.bottom for s in group)


def _left(group: list[_Stroke]) -> int:
    return min(s.left for s in group)


def _right(group: list[_Stroke]) -> int:
    return max(s.right for s in group)
