"""A digit found in a photo is read as the network's average over a few views of it.

Cutting a digit out of a photo and bringing it to MNIST's form (``service.inputs``) settles
its position, size and slant to within a pixel or a few degrees, where MNIST's own digits
were settled by their authors' procedure. The network's answer moves with such small
changes, and an average over them is steadier than any one (test-time augmentation; LeCun
et al. 1998 trained on such distortions). The views: the form itself, shifted one pixel each
way, scaled by 0.9 and 1.1, rotated by ±8° about its centre; chosen on the evaluation's
tuning set, measured on sets never tuned on (README, "Photos": ``python -m evaluation``).

Only digits the service cut out of a picture are read so (``photos.Digit.from_photo``): an
array taken as it is, or an image already in MNIST's form, is read once, and a client that
sends one gets the network's own answer. The views are made where ``Runner.predict`` is
called, on the event loop: eight warps of a 28x28 form a digit, less work than a thread's
round trip for the one or few digits a request holds.
"""

from __future__ import annotations

import cv2
import numpy as np

_SIZE = 28
_CENTRE = ((_SIZE - 1) / 2, (_SIZE - 1) / 2)


def _shift(dx: float, dy: float) -> np.ndarray:
    return np.array([[1, 0, dx], [0, 1, dy]], np.float64)


MOVES: tuple[np.ndarray, ...] = (
    _shift(1, 0),
    _shift(-1, 0),
    _shift(0, 1),
    _shift(0, -1),
    cv2.getRotationMatrix2D(_CENTRE, 0, 0.9),
    cv2.getRotationMatrix2D(_CENTRE, 0, 1.1),
    cv2.getRotationMatrix2D(_CENTRE, 8, 1.0),
    cv2.getRotationMatrix2D(_CENTRE, -8, 1.0),
)
"""The views besides the form itself, each an affine map of the 28x28 form."""
VIEWS = 1 + len(MOVES)


def expand(images: np.ndarray, viewed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 28, 28, 1) network inputs → the rows to run: each image where ``viewed`` is false,
    its ``VIEWS`` where true (itself, then its ``MOVES``), in order; and how many rows each
    image has."""
    rows: list[np.ndarray] = []
    for image, many in zip(images, viewed, strict=True):
        rows.append(image)
        if many:
            form = image[:, :, 0]
            rows.extend(
                cv2.warpAffine(form, matrix, (_SIZE, _SIZE), flags=cv2.INTER_LINEAR)[:, :, None]
                for matrix in MOVES
            )
    counts = np.where(viewed, VIEWS, 1)
    return np.stack(rows), counts


def average(probabilities: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each image's rows' probabilities (``expand``'s order) → their mean, one row each."""
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    totals = np.add.reduceat(probabilities, starts, axis=0)
    mean: np.ndarray = totals / counts[:, None].astype(probabilities.dtype)
    return mean
