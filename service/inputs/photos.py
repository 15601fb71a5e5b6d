"""A picture to the digits on it: MNIST-form tensors, and where each digit is.

The steps, each in its own module: reduce to working size and find the ink (``ink``); pick
the digit, or the row of digits of a number (``digits``); bring each to MNIST's form
(``mnist_form``); give its box in the upload's own pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from service.inputs import digits, ink, mnist_form
from service.inputs.images import Picture

_MNIST_MARGIN = 10  # gray levels: the most an MNIST digit's empty margin holds ...
_MNIST_STROKES_OUT = 12  # ... but for this many pixels of it, where strokes run out

Box = tuple[int, int, int, int]
"""x, y, width, height in the uploaded image's pixels (after EXIF rotation)."""


@dataclass(frozen=True)
class Digit:
    """One digit to read: float32 (28, 28) gray levels 0–255 in MNIST form (light on dark),
    and its box in the upload (None for a JSON array: it has no pixels of its own)."""

    tensor: np.ndarray
    box: Box | None = None
    from_photo: bool = False
    """Cut out of a photo by ``read_digit`` or ``read_number`` (not taken as it was: an array,
    or an image in MNIST's form already): it is read over a few views of it
    (``service.runtime.views``)."""


def use_one_thread() -> None:
    """Run OpenCV on the calling thread: each request's photo is already normalised in a
    worker thread of its own, and OpenCV's pool would only contend with them for the
    CPUs, costing more CPU time per photo than it saves in wall time."""
    cv2.setNumThreads(1)


def read_digit(picture: Picture) -> Digit | None:
    """The picture's most prominent digit; None when it shows none."""
    if in_mnist_form(picture.gray):
        return _as_mnist(picture)
    working = ink.to_working_size(picture.gray)
    for faint in (False, True):  # a faint digit only where no clear one is
        found = ink.find_ink(working, faint=faint)
        region = digits.find_digit(found.mask, found.contrast)
        if region is not None:
            return _digit(found, region, picture)
    return None


Predict = Callable[[np.ndarray], np.ndarray]
"""The network: (n, 28, 28) MNIST-form gray levels 0–255 → (n, 10) probabilities."""


def read_number(picture: Picture, predict: Predict | None = None) -> list[Digit]:
    """The digits of the picture's number, left to right; empty when it shows none. With
    ``predict``, the network decides whether a group about one digit wide is two touching
    ones (``digits.find_number``'s judge), reading each candidate as it would be read."""
    working = ink.to_working_size(picture.gray)
    for faint in (False, True):  # a faint number only where no clear one is
        found = ink.find_ink(working, faint=faint)
        judge = None if predict is None else _judge(predict, found, picture)
        regions = digits.find_number(found.mask, judge)
        if regions:
            return [_digit(found, region, picture) for region in regions]
    return []


def _judge(predict: Predict, found: ink.Ink, picture: Picture) -> digits.Judge:
    def sureness(regions: list[digits.Region]) -> list[float]:
        tensors = np.stack([_digit(found, region, picture).tensor for region in regions])
        return [float(p) for p in predict(tensors).max(axis=1)]

    return sureness


def in_mnist_form(gray: np.ndarray) -> bool:
    """28x28, a light digit on black (the margin black but where a stroke reaches it):
    MNIST's own form, in which the ink is the gray levels as they are (nothing to find:
    no paper, light, rules or specks)."""
    if gray.shape != (mnist_form.SIZE, mnist_form.SIZE) or int(gray.max()) <= 2 * _MNIST_MARGIN:
        return False
    margin = np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])
    return int(np.count_nonzero(margin > _MNIST_MARGIN)) <= _MNIST_STROKES_OUT


def _as_mnist(picture: Picture) -> Digit | None:
    rows = np.nonzero(picture.gray.max(axis=1) > _MNIST_MARGIN)[0]
    cols = np.nonzero(picture.gray.max(axis=0) > _MNIST_MARGIN)[0]
    if rows.size == 0:
        return None
    box = _in_upload(
        picture,
        picture.gray.shape,
        cols[0],
        rows[0],
        cols[-1] + 1 - cols[0],
        rows[-1] + 1 - rows[0],
    )
    return Digit(mnist_form.refit(picture.gray.astype(np.float32) / 255), box)


def as_is(picture: Picture) -> Digit:
    """The whole picture resized to 28x28, neither inverted nor cropped: for images that
    are in MNIST's form already (``preprocess=none``)."""
    resized = cv2.resize(
        picture.gray.astype(np.float32),
        (mnist_form.SIZE, mnist_form.SIZE),
        interpolation=cv2.INTER_AREA,
    )
    return Digit(resized, (0, 0, *picture.size))


def _digit(found: ink.Ink, region: digits.Region, picture: Picture) -> Digit:
    """The region's ink as soft gray levels (its strokes' own soft edges kept, other ink in
    its box left out) in MNIST's form, and its box scaled back to the upload."""
    window = found.contrast[region.top : region.bottom, region.left : region.right]
    peak = float(np.percentile(window[region.mask > 0], 90))
    floor = found.floor / 2
    near = cv2.dilate(region.mask, np.ones((3, 3), np.uint8))
    soft = np.clip((window - floor) / max(peak - floor, 1e-6), 0, 1) * near
    box = _in_upload(
        picture, found.mask.shape, region.left, region.top, region.width, region.height
    )
    return Digit(mnist_form.mnist_form(soft.astype(np.float32)), box, from_photo=True)


def _in_upload(
    picture: Picture, shape: tuple[int, ...], x: int, y: int, width: int, height: int
) -> Box:
    """A box in an image of ``shape`` (the decoded or working size) in the upload's pixels."""
    scale_x, scale_y = picture.size[0] / shape[1], picture.size[1] / shape[0]
    return (int(x * scale_x), int(y * scale_y), round(width * scale_x), round(height * scale_y))
