"""A sheet (or board) with digits on it, lit and photographed: a frame of RGB pixels.

Everything is built in the frame's own pixels, as reflectance (0 black, 1 white paper) times
the light falling on it, then through a camera: gamma, blur, sensor noise. The sheet is a
rectangle turned by ``tilt`` whose edges may cut into the frame (the desk shows beyond
them); rules and the digits turn with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from evaluation import strokes

Rgb = tuple[float, float, float]
Box = tuple[int, int, int, int]
"""x, y, width, height in pixels."""

_GAMMA = 1 / 2.2  # the sensor's linear light to the file's encoded values


@dataclass(frozen=True)
class Pen:
    """How the digits are written: ink reflectance, nib width (None: the writer's own strokes,
    as MNIST has them), and ``grain``, the share of coverage a dry medium (pencil, chalk)
    leaves out at random."""

    colour: Rgb
    width: float | None = None
    grain: float = 0.0


@dataclass(frozen=True)
class Sheet:
    """The surface written on: its colour, printed rules (none, ruled, grid), and where its
    edges lie: for each of left, top, right, bottom, how far into the frame (a share of its
    width or height) the desk shows, or None where the sheet runs past the frame."""

    colour: Rgb
    rules: str = "none"
    rule_colour: Rgb = (0.55, 0.7, 0.9)
    rule_spacing: float = 1.3  # in digit heights
    rule_width: float = 2.0  # px
    margin: bool = False  # a red vertical rule on the left, as on school paper
    edges: tuple[float | None, float | None, float | None, float | None] = (None,) * 4
    desk: Rgb = (0.25, 0.16, 0.1)


@dataclass(frozen=True)
class Light:
    """The light falling on the scene: a linear ramp across the frame (``gradient``: the
    share lost from the bright side to the dark), darker corners (``vignette``), and a
    shadow in one corner (``shadow``: the share of light it takes; ``shadow_edge``: its
    edge's blur in px, ~1 for a phone close over the sheet under a lamp, tens for a hand
    under a window)."""

    level: float = 1.0
    gradient: float = 0.0
    vignette: float = 0.0
    shadow: float = 0.0
    shadow_edge: float = 1.0
    cast: Rgb = (1.0, 0.97, 0.9)


@dataclass(frozen=True)
class Camera:
    blur: float = 0.8  # px, Gaussian sigma
    noise: float = 3.0  # gray levels, standard deviation


@dataclass(frozen=True)
class Scene:
    """A frame ``size`` (width, height) px showing ``digits`` (MNIST test images) written in
    a row, each ``height`` px tall, centred at ``centre`` (a share of the frame's width and
    height), with ``gap`` (a share of ``height``) between neighbours."""

    size: tuple[int, int]
    digits: list[np.ndarray]
    height: float
    pen: Pen
    sheet: Sheet
    light: Light = field(default_factory=Light)
    camera: Camera = field(default_factory=Camera)
    tilt: float = 0.0  # degrees, counter-clockwise
    centre: tuple[float, float] = (0.5, 0.5)
    gap: float = 0.25


@dataclass(frozen=True)
class Rendered:
    pixels: np.ndarray  # (H, W, 3) uint8 RGB
    boxes: list[Box]  # each digit's ink, in the frame's pixels, left to right


def render(scene: Scene, rng: np.random.Generator) -> Rendered:
    """The scene as a photograph: reflectance x light, through the camera."""
    width, height = scene.size
    turn = _Turn(scene, width, height)
    ink, boxes = _ink_layer(scene, turn, rng)
    reflectance = _surface(scene, turn, rng)
    pen = np.asarray(scene.pen.colour, np.float32)
    reflectance = reflectance * (1 - ink[..., None]) + pen * ink[..., None]  # (H, W, 3)
    light = _light(scene.light, width, height, rng)  # (H, W)
    cast = np.asarray(scene.light.cast, np.float32)
    linear = reflectance * (light[..., None] * cast)
    encoded = 255 * cv2.pow(np.clip(linear, 0, 1), _GAMMA)
    if scene.camera.blur:
        encoded = cv2.GaussianBlur(encoded, (0, 0), scene.camera.blur)
    if scene.camera.noise:
        grain = scene.camera.noise * rng.standard_normal((height, width), np.float32)
        encoded += grain[..., None]  # luma noise: what phones leave after denoising colour
    return Rendered(np.clip(encoded + 0.5, 0, 255).astype(np.uint8), boxes)


class _Turn:
    """Frame pixels to sheet coordinates (u right, v down along the sheet, origin at the
    digits' centre), for a sheet turned by ``tilt`` degrees."""

    def __init__(self, scene: Scene, width: int, height: int) -> None:
        self.cx, self.cy = scene.centre[0] * width, scene.centre[1] * height
        angle = math.radians(scene.tilt)
        self.cos, self.sin = math.cos(angle), math.sin(angle)
        xs = np.arange(width, dtype=np.float32)[None, :] - self.cx  # (1, W)
        ys = np.arange(height, dtype=np.float32)[:, None] - self.cy  # (H, 1)
        self.u = xs * self.cos - ys * self.sin  # (H, W)
        self.v = xs * self.sin + ys * self.cos  # (H, W)

    def to_frame(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.cx + u * self.cos + v * self.sin, self.cy - u * self.sin + v * self.cos

    def matrix(self) -> np.ndarray:
        """The 2x3 affine map from sheet (u, v) to frame (x, y) pixels."""
        return np.array([[self.cos, self.sin, self.cx], [-self.sin, self.cos, self.cy]], np.float32)


def _ink_layer(scene: Scene, turn: _Turn, rng: np.random.Generator) -> tuple[np.ndarray, list[Box]]:
    """Ink coverage (H, W) of the digits written side by side, and each one's box."""
    pieces = [strokes.written(digit, scene.height, scene.pen.width) for digit in scene.digits]
    # Lay the digits along u by their ink boxes; a little baseline wobble, as handwriting has.
    boxes_px = [_coverage_box(piece) for piece in pieces]
    widths = [right - left for _, _, left, right in boxes_px]
    gap = scene.gap * scene.height
    total = sum(widths) + gap * (len(pieces) - 1)
    width, height = scene.size
    layer = np.zeros((height, width), np.float32)
    boxes = []
    start = -total / 2
    affine = turn.matrix()
    for piece, (top, bottom, left, _), span in zip(pieces, boxes_px, widths, strict=True):
        wobble = rng.normal(0, 0.04) * scene.height if len(pieces) > 1 else 0.0
        shift = np.array(
            [[1, 0, start - left], [0, 1, -(top + bottom) / 2 + wobble], [0, 0, 1]], np.float32
        )
        matrix = (np.vstack([affine, [0, 0, 1]]) @ shift)[:2]
        placed = cv2.warpAffine(piece, matrix, (width, height), flags=cv2.INTER_LINEAR)
        layer = np.maximum(layer, placed)
        ys, xs = np.nonzero(piece > 0.5)
        fx = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
        fy = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
        x0, y0 = int(np.floor(fx.min())), int(np.floor(fy.min()))
        boxes.append((x0, y0, int(np.ceil(fx.max())) + 1 - x0, int(np.ceil(fy.max())) + 1 - y0))
        start += span + gap
    if scene.pen.grain:
        speckle = cv2.GaussianBlur(rng.random((height, width), np.float32), (0, 0), 0.8)
        speckle = (speckle - speckle.mean()) / (speckle.std() + 1e-6)
        layer *= np.clip(1 - scene.pen.grain * (0.5 - 0.5 * speckle), 0, 1)
    return layer, boxes


def _coverage_box(piece: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(piece > 0.5)
    return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1


def _surface(scene: Scene, turn: _Turn, rng: np.random.Generator) -> np.ndarray:
    """Reflectance (H, W, 3) of the sheet with its rules, and of the desk past its edges."""
    sheet = scene.sheet
    width, height = scene.size
    paper = np.empty((height, width, 3), np.float32)
    paper[:] = sheet.colour
    grain = cv2.GaussianBlur(rng.standard_normal((height, width), np.float32), (0, 0), 1)
    paper *= (1 + 0.012 * grain)[..., None]
    if sheet.rules != "none":
        spacing = sheet.rule_spacing * scene.height
        rules = _rules(turn.v, spacing, sheet.rule_width, rng)
        if sheet.rules == "grid":
            rules = np.maximum(rules, _rules(turn.u, spacing, sheet.rule_width, rng))
        paper = _paint(paper, rules, sheet.rule_colour)
    if sheet.margin:
        at = turn.u.min() + 0.12 * (turn.u.max() - turn.u.min())
        line = np.clip(sheet.rule_width / 2 + 0.5 - np.abs(turn.u - at), 0, 1)
        paper = _paint(paper, line, (0.85, 0.35, 0.4))
    on_sheet = _sheet_coverage(sheet, turn, width, height)
    if on_sheet.min() >= 1:
        return paper
    desk = np.empty_like(paper)
    desk[:] = sheet.desk
    streaks = _smooth_noise(rng, width, height, (40, 2))
    desk *= (1 + 0.05 * streaks)[..., None]
    return desk + (paper - desk) * on_sheet[..., None]


def _rules(coordinate: np.ndarray, spacing: float, width: float, rng) -> np.ndarray:
    """Coverage of printed lines across ``coordinate`` every ``spacing`` px."""
    phase = rng.uniform(0, spacing)
    offset = np.abs((coordinate - phase + spacing / 2) % spacing - spacing / 2)
    return np.clip(width / 2 + 0.5 - offset, 0, 1)


def _paint(surface: np.ndarray, coverage: np.ndarray, colour: Rgb) -> np.ndarray:
    """Printed ink multiplies the paper's reflectance (it is a filter, not an opaque coat)."""
    return surface * (1 - coverage[..., None] * (1 - np.asarray(colour, np.float32)))


def _sheet_coverage(sheet: Sheet, turn: _Turn, width: int, height: int) -> np.ndarray:
    """1 on the sheet, 0 on the desk, a pixel of soft edge between (H, W)."""
    inside = np.ones((height, width), np.float32)
    left, top, right, bottom = sheet.edges
    # Each edge, in sheet coordinates: where it crosses the frame's edge at the middle.
    limits = [
        (left, turn.u, -1, (left or 0) * width - turn.cx),
        (right, turn.u, 1, (1 - (right or 0)) * width - turn.cx),
        (top, turn.v, -1, (top or 0) * height - turn.cy),
        (bottom, turn.v, 1, (1 - (bottom or 0)) * height - turn.cy),
    ]
    for share, coordinate, sign, at in limits:
        if share is not None:
            inside = np.minimum(inside, np.clip(0.5 + sign * (at - coordinate), 0, 1))
    return inside


def _light(light: Light, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """The light (H, W) on the scene: ramp x vignette x shadow, times ``level``."""
    xs = np.linspace(-0.5, 0.5, width, dtype=np.float32)[None, :]
    ys = np.linspace(-0.5, 0.5, height, dtype=np.float32)[:, None]
    angle = rng.uniform(0, 2 * math.pi)
    ramp = xs * math.cos(angle) + ys * math.sin(angle)  # in [-0.71, 0.71]
    field = light.level * (1 - light.gradient * (0.5 - ramp / 1.42))
    field = field * (1 - light.vignette * 2 * (xs**2 + ys**2))
    if light.shadow:
        field = field * (1 - light.shadow * _shadow_shape(light, width, height, rng))
    return field.astype(np.float32)


def _shadow_shape(light: Light, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A phone's or a hand's shadow reaching in from one corner: a blurred ellipse."""
    mask = np.zeros((height, width), np.float32)
    corner = (rng.choice([0, width]), rng.choice([0, height]))
    axes = (int(rng.uniform(0.3, 0.55) * width), int(rng.uniform(0.25, 0.5) * height))
    cv2.ellipse(mask, corner, axes, rng.uniform(0, 180), 0, 360, 1.0, -1, cv2.LINE_AA)
    if light.shadow_edge > 0.3:
        mask = _blur(mask, light.shadow_edge)
    return mask


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; a wide one at a reduced size (what it leaves is smooth anyway)."""
    factor = max(1, int(sigma // 4))
    if factor == 1:
        return cv2.GaussianBlur(image, (0, 0), sigma)
    height, width = image.shape
    small = cv2.resize(
        image, (max(1, width // factor), max(1, height // factor)), interpolation=cv2.INTER_AREA
    )
    small = cv2.GaussianBlur(small, (0, 0), sigma / factor)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def _smooth_noise(
    rng: np.random.Generator, width: int, height: int, sigma: tuple[float, float]
) -> np.ndarray:
    """Unit-deviation noise (H, W) smoothed by ``sigma`` (x, y) px: a desk's grain."""
    noise = rng.standard_normal((height, width), np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), sigmaX=sigma[0], sigmaY=sigma[1])
    return noise / (noise.std() + 1e-6)
