"""A layer's activations as one picture: its feature maps side by side, as ``plt.imshow`` would."""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

CELL = 84
"""Every feature map is scaled up to about this many pixels, whatever its size."""
UNIT_CELL = 24
"""Side of one unit's square when a dense layer is drawn."""
GAP = 4


def feature_map_grid(values: np.ndarray) -> bytes:
    """(H, W, C) feature maps or a (N,) vector → PNG bytes.

    Maps share one gray scale (the layer's min → black, max → white) so their
    brightness compares; a vector is drawn as a strip of cells, one per unit.
    """
    if values.ndim == 1 or values.shape[:2] == (1, 1):
        maps = values.reshape(-1, 1, 1)  # (N,) → N maps of 1×1: one cell per unit
    else:
        maps = values.transpose(2, 0, 1)  # (H, W, C) → (C, H, W)
    low, high = float(values.min()), float(values.max())
    scaled = (maps - low) / (high - low) if high > low else np.zeros_like(maps)
    count, height, width = scaled.shape
    columns = math.ceil(math.sqrt(count)) if count > 1 else 1
    rows = math.ceil(count / columns)
    zoom = max(1, CELL // max(height, width)) if height > 1 else UNIT_CELL
    cell_h, cell_w = height * zoom, width * zoom
    canvas = np.full((rows * (cell_h + GAP) + GAP, columns * (cell_w + GAP) + GAP), 48, np.uint8)
    for index, fmap in enumerate(scaled):
        r, c = divmod(index, columns)
        top, left = GAP + r * (cell_h + GAP), GAP + c * (cell_w + GAP)
        big = np.kron(fmap, np.ones((zoom, zoom)))  # nearest-neighbour upscaling
        canvas[top : top + cell_h, left : left + cell_w] = np.round(big * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(canvas, mode="L").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
