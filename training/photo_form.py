"""MNIST's training digits in the form a photographed digit reaches the network.

A photo's digit reaches the network through ``service.inputs``: found as ink, its strokes
brought towards MNIST's width, scaled into the 20x20 box, centred by mass. That form
differs from MNIST's own in ways a network trained on MNIST alone reads less well: the
width a pen, a marker or the widening of a hairline leaves, a harder or softer edge, the
tilt of the sheet. Each digit here is redrawn that way: its bilevel drawing recovered at a
random size and cut level, made finer or bolder by a round nib, turned by up to
``TILT`` degrees, and brought to MNIST's form by the service's own ``mnist_form``.
"""

from __future__ import annotations

import cv2
import numpy as np

from service.inputs.mnist_form import mnist_form

TILT = 15.0
"""Degrees: how far a sheet is turned in a photo, at most."""

_SCALES = (1.5, 5.0)  # the redrawn digit's size, in MNIST pixels per pixel
_CUT = (0.25, 0.55)  # of full ink: where the anti-aliased edge is cut
_NIB = 0.07  # of the digit's height: the most a stroke is worn or grown on each side


def photo_forms(images: np.ndarray, seed: int) -> np.ndarray:
    """(N, 28, 28) uint8 MNIST digits → (N, 28, 28) uint8, each redrawn once."""
    rng = np.random.default_rng(seed)
    return np.stack([np.round(_redraw(image, rng)).astype(np.uint8) for image in images])


def _redraw(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    scale = rng.uniform(*_SCALES)
    field = cv2.resize(
        digit.astype(np.float32) / 255, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR
    )
    outline: np.ndarray = (field > rng.uniform(*_CUT)).astype(np.uint8)  # (28 s, 28 s)
    if not outline.any():
        return digit.astype(np.float32)
    rows = np.nonzero(outline.any(axis=1))[0]
    radius = round(rng.uniform(0, _NIB) * (rows[-1] - rows[0] + 1))
    nib = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    change = rng.choice(3)  # as written, finer, bolder
    if change == 1 and radius:
        finer = cv2.erode(outline, nib)
        outline = finer if finer.any() else outline
    elif change == 2 and radius:
        outline = cv2.dilate(outline, nib)
    height, width = outline.shape
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), rng.uniform(-TILT, TILT), 1.0)
    ink = cv2.warpAffine(outline.astype(np.float32), turn, (width, height))
    ink = cv2.GaussianBlur(ink, (0, 0), rng.uniform(0.5, 1.0))  # the lens, the sensor
    if not ink.any():  # ink in a corner, turned out of the frame: nothing left to redraw
        return digit.astype(np.float32)
    return mnist_form(ink)
