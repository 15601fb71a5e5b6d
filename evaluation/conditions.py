"""The evaluation set's conditions: each a name and a way to make one photo of given digits.

A condition draws everything it leaves open (sizes, colours, light, where the digit sits)
from the generator it is handed, so a set is fully determined by its seed. Every photo is
one file as a user would upload it, with the digits it shows and where they are.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from evaluation import strokes
from evaluation.scenes import Box, Camera, Light, Pen, Scene, Sheet, render

BLACK_PEN: tuple[float, float, float] = (0.07, 0.07, 0.09)
BLUE_PEN = (0.12, 0.16, 0.45)
RED_PEN = (0.62, 0.1, 0.12)
PENCIL = (0.38, 0.38, 0.4)
CHALK = (0.8, 0.8, 0.76)
WHITE_PAPER = (0.88, 0.87, 0.84)
BOARD = (0.07, 0.11, 0.09)
DESKS = [(0.25, 0.16, 0.1), (0.45, 0.32, 0.2), (0.15, 0.15, 0.16), (0.55, 0.55, 0.55)]


@dataclass(frozen=True)
class Photo:
    """One upload: its bytes and content type, the digits it shows left to right ("" for a
    photo without any), their boxes in the upright image, and its condition's name."""

    condition: str
    data: bytes
    content_type: str
    digits: str
    boxes: list[Box]


MakePhoto = Callable[[np.random.Generator, list[np.ndarray], str], Photo]


def _phone_size(rng: np.random.Generator) -> tuple[int, int]:
    """A phone photo as apps send it: 3:4 portrait (sometimes landscape), 600-1200 px wide."""
    width = int(rng.choice([600, 720, 768, 900, 1080, 1200]))
    size = (width, width * 4 // 3)
    return size if rng.random() < 0.8 else (size[1], size[0])


def fitting(digits: list[np.ndarray], side: float) -> float:
    """The ink-box height at which a digit's longer side is ``side`` px."""
    top, bottom, left, right = strokes.ink_box(digits[0])
    return side * (bottom - top) / max(bottom - top, right - left)


def _phone_scene(rng: np.random.Generator, digits: list[np.ndarray], **changes) -> Scene:
    """A digit on white paper filling the frame, mild light fall-off, held by hand."""
    size = changes.pop("size", None) or _phone_size(rng)
    height = fitting(digits, rng.uniform(0.18, 0.45) * min(size))
    scene = Scene(
        size=size,
        digits=digits,
        height=height,
        pen=Pen(BLACK_PEN),
        sheet=Sheet(_tint(rng, WHITE_PAPER)),
        light=Light(
            level=rng.uniform(0.75, 1.05),
            gradient=rng.uniform(0, 0.25),
            vignette=rng.uniform(0, 0.3),
            cast=_tint(rng, (1.0, 0.97, 0.9), 0.04),
        ),
        camera=Camera(blur=rng.uniform(0.5, 1.2), noise=rng.uniform(1.5, 5)),
        tilt=rng.uniform(-4, 4),
        centre=(rng.uniform(0.4, 0.6), rng.uniform(0.4, 0.6)),
    )
    return replace(scene, **changes)


def _tint(rng: np.random.Generator, colour, spread: float = 0.03):
    return tuple(float(np.clip(c + rng.normal(0, spread), 0, 1)) for c in colour)


def _desk(rng: np.random.Generator, count: int, most: float = 0.2) -> dict:
    """The sheet's edges inside the frame on ``count`` of its four sides, at most ``most``
    of the frame in."""
    sides = rng.permutation(4)[:count]
    edges = tuple(
        float(rng.uniform(0.05, 0.2) * most / 0.2) if i in sides else None for i in range(4)
    )
    return {"edges": edges, "desk": _tint(rng, DESKS[rng.integers(len(DESKS))], 0.03)}


def _own_or_pen(rng: np.random.Generator, colour, height: float) -> Pen:
    return Pen(colour) if rng.random() < 0.5 else Pen(colour, rng.uniform(0.06, 0.12) * height)


# Each condition: (rng, digits, label) -> Photo.


def _photo(name: str, scene: Scene, rng, label: str, fmt: str = "JPEG", **save) -> Photo:
    rendered = render(scene, rng)
    data, content_type = encode_rgb(rendered.pixels, fmt, rng, **save)
    return Photo(name, data, content_type, label, rendered.boxes)


def paper(rng, digits, label):
    return _photo("paper", _phone_scene(rng, digits), rng, label)


def pen_colour(name: str, colour) -> MakePhoto:
    def make(rng, digits, label):
        scene = _phone_scene(rng, digits)
        return _photo(name, replace(scene, pen=_own_or_pen(rng, colour, scene.height)), rng, label)

    return make


def pencil(rng, digits, label):
    scene = _phone_scene(rng, digits)
    width = rng.uniform(0.05, 0.09) * scene.height
    return _photo("pencil", replace(scene, pen=Pen(PENCIL, width, grain=0.5)), rng, label)


def fine_pen(rng, digits, label):
    scene = _phone_scene(rng, digits)
    pen = Pen(BLACK_PEN if rng.random() < 0.5 else BLUE_PEN, rng.uniform(0.03, 0.05))
    return _photo(
        "fine_pen", replace(scene, pen=replace(pen, width=pen.width * scene.height)), rng, label
    )


def marker(rng, digits, label):
    scene = _phone_scene(rng, digits)
    pen = Pen(BLACK_PEN, rng.uniform(0.13, 0.17) * scene.height)
    return _photo("marker", replace(scene, pen=pen), rng, label)


def desk(count_low: int, count_high: int, name: str) -> MakePhoto:
    def make(rng, digits, label):
        scene = _phone_scene(rng, digits)
        sheet = replace(scene.sheet, **_desk(rng, int(rng.integers(count_low, count_high + 1))))
        return _photo(name, replace(scene, sheet=sheet), rng, label)

    return make


def light_falloff(rng, digits, label):
    scene = _phone_scene(rng, digits)
    light = replace(scene.light, gradient=rng.uniform(0.4, 0.65), vignette=rng.uniform(0.3, 0.6))
    return _photo("light_falloff", replace(scene, light=light), rng, label)


def shadow(edge_low: float, edge_high: float, name: str) -> MakePhoto:
    def make(rng, digits, label):
        scene = _phone_scene(rng, digits)
        edge = rng.uniform(edge_low, edge_high) * min(scene.size)
        light = replace(scene.light, shadow=rng.uniform(0.35, 0.65), shadow_edge=edge)
        return _photo(name, replace(scene, light=light), rng, label)

    return make


def ruled(rules: str, name: str) -> MakePhoto:
    def make(rng, digits, label):
        scene = _phone_scene(rng, digits)
        sheet = replace(
            scene.sheet,
            rules=rules,
            rule_spacing=rng.uniform(1.1, 1.6) if rules == "ruled" else rng.uniform(0.4, 0.7),
            rule_width=rng.uniform(1.0, 3.0),
            rule_colour=_tint(rng, (0.55, 0.7, 0.9) if rng.random() < 0.7 else (0.6,) * 3, 0.05),
            margin=rules == "ruled" and rng.random() < 0.3,
        )
        pen = Pen(BLUE_PEN if rng.random() < 0.5 else BLACK_PEN)
        return _photo(name, replace(scene, sheet=sheet, pen=pen), rng, label)

    return make


def tilted(rng, digits, label):
    scene = _phone_scene(rng, digits)
    angle = rng.uniform(8, 15) * rng.choice([-1, 1])
    sheet = replace(scene.sheet, **_desk(rng, int(rng.integers(0, 3))))
    return _photo("tilted", replace(scene, tilt=angle, sheet=sheet), rng, label)


def small_digit(rng, digits, label):
    width = int(rng.choice([1200, 1500, 1600]))
    scene = _phone_scene(rng, digits, size=(width, width * 4 // 3))
    scene = replace(
        scene,
        height=fitting(digits, width * rng.uniform(0.1, 0.13)),
        centre=(rng.uniform(0.25, 0.75), rng.uniform(0.25, 0.75)),
    )
    return _photo("small_digit", scene, rng, label, quality=int(rng.integers(80, 93)))


def filling(rng, digits, label):
    scene = _phone_scene(rng, digits)
    height = fitting(digits, rng.uniform(0.7, 0.8) * min(scene.size))
    return _photo("filling_frame", replace(scene, height=height), rng, label)


def chalkboard(rng, digits, label):
    scene = _phone_scene(rng, digits)
    pen = Pen(_tint(rng, CHALK, 0.05), rng.uniform(0.07, 0.12) * scene.height, grain=0.35)
    sheet = Sheet(_tint(rng, BOARD, 0.02))
    light = replace(scene.light, gradient=rng.uniform(0.1, 0.4))
    return _photo("chalkboard", replace(scene, pen=pen, sheet=sheet, light=light), rng, label)


def phone(rng, digits, label):
    """What a user really sends: any pen, paper, desk, light, shadow and tilt at once."""
    scene = _phone_scene(rng, digits)
    pens = [BLACK_PEN, BLUE_PEN, BLUE_PEN, RED_PEN]
    pen = _own_or_pen(rng, pens[rng.integers(len(pens))], scene.height)
    if rng.random() < 0.15:
        pen = Pen(BLACK_PEN, rng.uniform(0.13, 0.17) * scene.height)
    sheet = replace(scene.sheet, **_desk(rng, int(rng.integers(0, 4))))
    if rng.random() < 0.4:
        sheet = replace(
            sheet, rules="ruled", rule_spacing=rng.uniform(1.1, 1.6), rule_width=rng.uniform(1, 2.5)
        )
    light = replace(
        scene.light,
        gradient=rng.uniform(0, 0.5),
        shadow=rng.uniform(0.3, 0.6) if rng.random() < 0.5 else 0.0,
        shadow_edge=rng.choice([1.0, rng.uniform(0.02, 0.1) * min(scene.size)]),
    )
    scene = replace(scene, pen=pen, sheet=sheet, light=light, tilt=rng.uniform(-15, 15))
    return _photo("phone", scene, rng, label)


def scan(rng, digits, label):
    width = int(rng.choice([800, 1000, 1240]))
    scene = Scene(
        size=(width, int(width * rng.uniform(0.6, 1.41))),
        digits=digits,
        height=fitting(digits, width * rng.uniform(0.12, 0.3)),
        pen=Pen(BLACK_PEN if rng.random() < 0.6 else BLUE_PEN),
        sheet=Sheet((0.95, 0.95, 0.95)),
        light=Light(level=1.0, cast=(1.0, 1.0, 1.0)),
        camera=Camera(blur=rng.uniform(0.4, 0.8), noise=rng.uniform(0.5, 2)),
        tilt=rng.uniform(-3, 3),
        centre=(rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7)),
    )
    rendered = render(scene, rng)
    gray = Image.fromarray(rendered.pixels).convert("L")
    return Photo("scan", _save(gray, "PNG"), "image/png", label, rendered.boxes)


def screenshot(rng, digits, label):
    """A digit drawn in an app, captured with the app's toolbar; light or dark theme."""
    width = int(rng.choice([390, 430, 800, 1280]))
    size = (width, int(width * rng.uniform(0.75, 2.1)))
    dark = rng.random() < 0.3
    canvas_colour = (0.12, 0.12, 0.13) if dark else (1.0, 1.0, 1.0)
    scene = Scene(
        size=size,
        digits=digits,
        height=fitting(digits, min(size) * rng.uniform(0.3, 0.6)),
        pen=Pen((0.95, 0.95, 0.95) if dark else (0.0, 0.0, 0.0), None),
        sheet=Sheet(canvas_colour),
        light=Light(level=1.0, cast=(1.0, 1.0, 1.0)),
        camera=Camera(blur=0.0, noise=0.0),
        centre=(0.5, rng.uniform(0.5, 0.6)),
    )
    scene = replace(scene, pen=replace(scene.pen, width=rng.uniform(0.08, 0.14) * scene.height))
    rendered = render(scene, rng)
    pixels = rendered.pixels.copy()
    bar = int(size[1] * rng.uniform(0.06, 0.1))
    pixels[:bar] = 40 if dark else 235
    for i in range(int(rng.integers(3, 7))):  # toolbar icons
        x = int((i + 0.5) * size[0] / 7)
        pixels[bar // 4 : 3 * bar // 4, x : x + bar // 2] = 200 if dark else 70
    return Photo(
        "screenshot", _save(Image.fromarray(pixels), "PNG"), "image/png", label, rendered.boxes
    )


def canvas(rng, digits, label):
    """A drawing app's export: strokes on a fully transparent background."""
    side = int(rng.choice([280, 400, 512]))
    colour = [(0, 0, 0), (20, 40, 200), (255, 255, 255)][int(rng.integers(3))]
    scene = Scene(
        size=(side, side),
        digits=digits,
        height=fitting(digits, side * rng.uniform(0.5, 0.75)),
        pen=Pen((0.0, 0.0, 0.0), None),
        sheet=Sheet((1.0, 1.0, 1.0)),
        light=Light(level=1.0, cast=(1.0, 1.0, 1.0)),
        camera=Camera(blur=0.0, noise=0.0),
        centre=(rng.uniform(0.45, 0.55), rng.uniform(0.45, 0.55)),
    )
    scene = replace(scene, pen=replace(scene.pen, width=rng.uniform(0.08, 0.16) * scene.height))
    rendered = render(scene, rng)
    alpha = 255 - rendered.pixels[..., 0]
    rgba = np.zeros((side, side, 4), np.uint8)
    rgba[..., :3] = colour
    rgba[..., 3] = alpha
    return Photo(
        "canvas_png",
        _save(Image.fromarray(rgba, "RGBA"), "PNG"),
        "image/png",
        label,
        rendered.boxes,
    )


def mnist_png(rng, digits, label):
    """The digit exactly as MNIST has it, 28x28 light on dark: what worked before photos."""
    image = Image.fromarray(digits[0])
    ys, xs = np.nonzero(digits[0])
    box = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
    return Photo("mnist_png", _save(image, "PNG"), "image/png", label, [box])


def file_format(mode: str, name: str) -> MakePhoto:
    """The phone scene saved in another pixel format: 16-bit gray, palette, RGBA, gray JPEG."""

    def make(rng, digits, label):
        scene = _phone_scene(rng, digits, size=(600, 800))
        rendered = render(scene, rng)
        image = Image.fromarray(rendered.pixels)
        if mode == "I;16":
            deep = np.asarray(image.convert("L"), np.uint16) * 257
            data, kind = _save(Image.fromarray(deep), "PNG"), "image/png"
        elif mode == "P":
            data, kind = _save(image.quantize(64), "PNG"), "image/png"
        elif mode == "RGBA":
            data, kind = _save(image.convert("RGBA"), "PNG"), "image/png"
        else:
            data, kind = _save(image.convert("L"), "JPEG", quality=88), "image/jpeg"
        return Photo(name, data, kind, label, rendered.boxes)

    return make


def exif_rotated(rng, digits, label):
    """Stored sideways or upside down, as phone sensors store it, with the EXIF tag to turn
    it upright; the boxes are in the upright image."""
    scene = _phone_scene(rng, digits)
    rendered = render(scene, rng)
    orientation = int(rng.choice([3, 6, 8]))
    turn = {
        3: Image.Transpose.ROTATE_180,
        6: Image.Transpose.ROTATE_90,
        8: Image.Transpose.ROTATE_270,
    }[orientation]
    stored = Image.fromarray(rendered.pixels).transpose(turn)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _save(stored, "JPEG", quality=90, exif=exif.tobytes())
    return Photo("exif_rotated", data, "image/jpeg", label, rendered.boxes)


def blank(with_desk: bool, name: str) -> MakePhoto:
    """A sheet with nothing written on it, or the desk alone (its grain, no sheet in sight):
    the answer must be no digit."""

    def make(rng, digits, label):
        scene = _phone_scene(rng, digits)
        if with_desk:
            colour = _tint(rng, DESKS[rng.integers(len(DESKS))], 0.03)
            sheet = replace(scene.sheet, edges=(1.2, None, None, None), desk=colour)
        else:
            sheet = replace(scene.sheet, **_desk(rng, int(rng.integers(0, 3))))
            if rng.random() < 0.4:
                sheet = replace(sheet, rules="ruled", rule_width=rng.uniform(1, 2.5))
        light = replace(
            scene.light,
            gradient=rng.uniform(0, 0.5),
            shadow=rng.uniform(0.3, 0.6) if rng.random() < 0.4 else 0.0,
            shadow_edge=rng.choice([1.0, 40.0]),
        )
        rendered = render(replace(scene, digits=[], sheet=sheet, light=light), rng)
        data, kind = encode_rgb(rendered.pixels, "JPEG", rng)
        return Photo(name, data, kind, "", [])

    return make


def encode_rgb(pixels: np.ndarray, fmt: str, rng: np.random.Generator, **save) -> tuple[bytes, str]:
    image = Image.fromarray(pixels)
    if fmt == "JPEG":
        save.setdefault("quality", int(rng.integers(75, 93)))
        return _save(image, "JPEG", **save), "image/jpeg"
    return _save(image, fmt, **save), f"image/{fmt.lower()}"


def _save(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


SINGLE: dict[str, MakePhoto] = {
    "paper": paper,
    "blue_pen": pen_colour("blue_pen", BLUE_PEN),
    "red_pen": pen_colour("red_pen", RED_PEN),
    "pencil": pencil,
    "fine_pen": fine_pen,
    "marker": marker,
    "desk_one_edge": desk(1, 1, "desk_one_edge"),
    "desk_three_edges": desk(2, 3, "desk_three_edges"),
    "light_falloff": light_falloff,
    "shadow_soft": shadow(0.04, 0.12, "shadow_soft"),
    "shadow_hard": shadow(0.001, 0.003, "shadow_hard"),
    "ruled_paper": ruled("ruled", "ruled_paper"),
    "grid_paper": ruled("grid", "grid_paper"),
    "tilted": tilted,
    "small_digit": small_digit,
    "filling_frame": filling,
    "chalkboard": chalkboard,
    "phone": phone,
    "scan": scan,
    "screenshot": screenshot,
    "canvas_png": canvas,
    "exif_rotated": exif_rotated,
    "png_gray16": file_format("I;16", "png_gray16"),
    "png_palette": file_format("P", "png_palette"),
    "png_rgba": file_format("RGBA", "png_rgba"),
    "jpeg_gray": file_format("L", "jpeg_gray"),
    "mnist_png": mnist_png,
}
"""Conditions with one digit per photo: ``/v1/predict`` must read it."""

BLANK: dict[str, MakePhoto] = {
    "blank_sheet": blank(False, "blank_sheet"),
    "desk_only": blank(True, "desk_only"),
}
"""Photos without a digit: ``/v1/predict`` must answer 422 ``no_digit``."""


def number(gap_low: float, gap_high: float, name: str) -> MakePhoto:
    """A number written in a row on paper (a house number, a year), photographed."""

    def make(rng, digits, label):
        scene = _phone_scene(rng, digits)
        if len(digits) > 5 and scene.size[0] < scene.size[1]:
            scene = replace(scene, size=scene.size[::-1])
        gap = rng.uniform(gap_low, gap_high)
        # The row's width in digit heights, from each digit's own proportions.
        shapes = [strokes.ink_box(digit) for digit in digits]
        widths = sum((right - left) / (bottom - top) for top, bottom, left, right in shapes)
        span = rng.uniform(0.45, 0.7)
        height = span * scene.size[0] / (widths + gap * (len(digits) - 1) + 0.15)
        pen = _own_or_pen(rng, [BLACK_PEN, BLUE_PEN][rng.integers(2)], height)
        side = (1 - span) / 2 - 0.04  # the desk stays clear of the row
        sheet = replace(scene.sheet, **_desk(rng, int(rng.integers(0, 3)), side))
        scene = replace(
            scene,
            height=height,
            gap=gap,
            pen=pen,
            sheet=sheet,
            tilt=rng.uniform(-6, 6),
            centre=(0.5, rng.uniform(0.4, 0.6)),
        )
        return _photo(name, scene, rng, label)

    return make


NUMBERS: dict[str, tuple[MakePhoto, tuple[int, int]]] = {
    "number": (number(0.15, 0.5, "number"), (2, 6)),
    "long_number": (number(0.15, 0.4, "long_number"), (7, 12)),
    "number_tight": (number(-0.04, 0.06, "number_tight"), (2, 5)),
}
"""Numbers of several digits (how many: the range): ``/v1/read`` must read them all."""
