"""service.inputs.photos: the digits on a photo, in MNIST's form, and where each one is.

The photos are synthetic (``tests.service.drawing``): a digit drawn on a sheet, then lit and
photographed by ``photo_like``; desks, shadows and printed rules are added by the helpers
below. Each reading is compared with the reading of the same digit drawn clean, and each box
with the drawn digit's own ink box.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from service.inputs.digits import find_digit
from service.inputs.images import Picture, decode_image
from service.inputs.ink import find_ink
from service.inputs.photos import Digit, as_is, read_digit, read_number
from tests.service.drawing import draw_digit, draw_number, encode, ink_box, iou, photo_like

SIZE = (480, 360)
MAX_PIXELS = 50_000_000


def picture(image: Image.Image) -> Picture:
    """An upload as ``decode_image`` gives it: its luminance, at full size."""
    gray = np.asarray(image.convert("L"))
    return Picture(gray, (gray.shape[1], gray.shape[0]))


def sheet(
    digit: int,
    *,
    offset: tuple[int, int] = (40, -20),
    scale: float = 0.7,
    ink: int = 0,
    paper: int = 255,
) -> Image.Image:
    """``digit`` on a sheet filling the frame, a little off centre unless placed otherwise."""
    return draw_digit(digit, SIZE, offset=offset, scale=scale, ink=ink, paper=paper)


def read(image: Image.Image) -> Digit:
    found = read_digit(picture(image))
    assert found is not None, "no digit found"
    return found


def clean(digit: int) -> np.ndarray:
    """The reading of ``digit`` drawn clean: black on white, centred, nothing else."""
    return read(draw_digit(digit)).tensor


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def aligned_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Best correlation over shifts of up to one pixel.

    Centring rounds the centre of mass to a whole pixel, as MNIST did, so two renderings of
    one digit may land a pixel apart.
    """
    return max(
        correlation(np.roll(a, (dy, dx), axis=(0, 1)), b) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
    )


def on_desk(drawing: Image.Image, sides: str, share: float = 0.15, shade: int = 70) -> Image.Image:
    """The sheet with the desk showing past its edges along ``sides`` (any of "ltrb"),
    ``share`` of the frame in; ``shade``: the desk's gray as drawn (60: nearly black, 110:
    dark wood; far darker than the paper, lighter than the ink)."""
    pixels = np.asarray(drawing).copy()
    height, width = pixels.shape
    across, down = int(share * width), int(share * height)
    for side, region in {
        "l": np.s_[:, :across],
        "r": np.s_[:, width - across :],
        "t": np.s_[:down, :],
        "b": np.s_[height - down :, :],
    }.items():
        if side in sides:
            pixels[region] = shade
    return Image.fromarray(pixels)


def lit_unevenly(photo: Image.Image, darkest: float = 0.3) -> Image.Image:
    """The photo under light falling from full on the right to ``darkest`` on the left, and
    dimmer towards the bottom: far more than ``photo_like``'s own fall-off."""
    gray = np.asarray(photo.convert("L"), np.float32)
    height, width = gray.shape
    light = np.linspace(darkest, 1, width, dtype=np.float32)[None, :]  # (1, W)
    light = light * np.linspace(1, 0.6, height, dtype=np.float32)[:, None]  # (H, W)
    return Image.fromarray((gray * light).astype(np.uint8))


def in_shadow(photo: Image.Image, reach: int, depth: float = 0.4, edge: float = 3) -> Image.Image:
    """The photo with a straight-edged shadow over its top-left corner (where x + y <
    ``reach``) taking ``depth`` of the light, its edge ``edge`` px wide: a phone's shadow
    under a lamp."""
    gray = np.asarray(photo.convert("L"), np.float32)
    ys, xs = np.indices(gray.shape, dtype=np.float32)
    lit = np.clip((xs + ys - reach) / np.sqrt(2) / edge + 0.5, 0, 1)
    return Image.fromarray((gray * (1 - depth * (1 - lit))).astype(np.uint8))


def under_a_phone_shadow(
    photo: Image.Image,
    centre: tuple[int, int],
    axes: tuple[int, int],
    depth: float = 0.45,
    turn: float = 30,
) -> Image.Image:
    """The photo with a hard-edged elliptical shadow (a phone's, held over the sheet under
    a lamp) centred at ``centre``, its half-axes ``axes`` px, turned ``turn`` degrees,
    taking ``depth`` of the light."""
    gray = np.asarray(photo.convert("L"), np.float32)
    around = np.linspace(0, 2 * np.pi, 200)
    (x, y), (a, b), angle = centre, axes, np.radians(turn)
    xs = x + a * np.cos(around) * np.cos(angle) - b * np.sin(around) * np.sin(angle)
    ys = y + a * np.cos(around) * np.sin(angle) + b * np.sin(around) * np.cos(angle)
    shape = Image.new("L", photo.size, 0)
    ImageDraw.Draw(shape).polygon(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=255)
    shade = np.asarray(shape, np.float32) / 255
    return Image.fromarray((gray * (1 - depth * shade)).astype(np.uint8))


def printed_rules(
    drawing: Image.Image, spacing: int = 30, *, first: int = 14, grid: bool = False
) -> Image.Image:
    """The sheet printed with light gray rules 2 px wide, the first at ``first`` px and then
    every ``spacing`` px (across, and down too for a ``grid``), under the ink: the digit is
    written over them."""
    rules = Image.new("L", drawing.size, 255)
    draw = ImageDraw.Draw(rules)
    width, height = drawing.size
    for y in range(first, height, spacing):
        draw.line((0, y, width, y), fill=190, width=2)
    if grid:
        for x in range(first, width, spacing):
            draw.line((x, 0, x, height), fill=190, width=2)
    return Image.fromarray(np.minimum(np.asarray(rules), np.asarray(drawing)))


# read_digit: what the digit becomes


@pytest.mark.parametrize("digit", [2, 4, 7])
def test_read_digit_turns_dark_ink_on_light_paper_light_on_dark(digit: int) -> None:
    found = read(photo_like(sheet(digit), seed=digit))
    assert found.tensor.dtype == np.float32 and found.tensor.shape == (28, 28)
    assert found.tensor[0, 0] == 0 and found.tensor.max() == pytest.approx(255)
    assert aligned_correlation(found.tensor, clean(digit)) > 0.95


@pytest.mark.parametrize("digit", [2, 4, 7])
def test_read_digit_keeps_light_chalk_on_a_dark_board_light_on_dark(digit: int) -> None:
    board = photo_like(sheet(digit, ink=255, paper=0), seed=digit)
    found = read(board)
    assert found.tensor[0, 0] == 0 and found.tensor.max() == pytest.approx(255)
    assert aligned_correlation(found.tensor, clean(digit)) > 0.9
    assert iou(found.box, ink_box(sheet(digit))) > 0.7


@pytest.mark.parametrize("digit", [0, 1, 4, 8])
def test_read_digit_reads_a_bold_digit_filling_the_frame(digit: int) -> None:
    bold = draw_digit(digit, (200, 200), scale=1.3, stroke=28)  # a quarter of the frame inked
    found = read(bold)
    assert found.tensor[0, 0] == 0 and found.tensor.max() == pytest.approx(255)
    assert iou(found.box, ink_box(bold)) > 0.8
    assert aligned_correlation(found.tensor, clean(digit)) > 0.8


@pytest.mark.parametrize("digit", [0, 4, 7])
@pytest.mark.parametrize("offset", [(0, 0), (150, -80), (-160, 90)])
def test_read_digit_off_centre_photo_matches_clean_digit(
    digit: int, offset: tuple[int, int]
) -> None:
    page = draw_digit(digit, (800, 600), offset=offset, scale=0.5)
    data = encode(photo_like(page, seed=digit), "JPEG", quality=85)
    found = read_digit(decode_image(data, max_pixels=MAX_PIXELS))
    assert found is not None
    assert aligned_correlation(found.tensor, clean(digit)) > 0.9
    assert iou(found.box, ink_box(page)) > 0.7


@pytest.mark.parametrize("digit", [4, 7])
def test_read_digit_widens_a_hairline_towards_mnist_width(digit: int) -> None:
    hairline = photo_like(draw_digit(digit, (600, 450), stroke=2, scale=0.6), seed=digit)
    found = read(hairline)
    # MNIST's 4s and 7s have some 60-70 pixels over 128; a hairline left as it is, ~20.
    assert (found.tensor > 128).sum() > 40
    assert aligned_correlation(found.tensor, clean(digit)) > 0.9


@pytest.mark.parametrize("digit", range(10))
def test_read_digit_round_trips_an_mnist_form_image(digit: int) -> None:
    once = clean(digit)
    data = encode(Image.fromarray(np.round(once).astype(np.uint8)), "PNG")
    again = read_digit(decode_image(data, max_pixels=MAX_PIXELS))
    assert again is not None
    assert correlation(again.tensor, once) > 0.95
    x, y, width, height = again.box
    assert 0 <= x and 0 <= y and x + width <= 28 and y + height <= 28


# read_digit: what is not the digit


def assert_desk_ignored(digit: int, sides: str, shade: int) -> None:
    drawing = sheet(digit, offset=(10, -5), scale=0.55)
    alone = read(photo_like(drawing, seed=digit))
    found = read(photo_like(on_desk(drawing, sides, shade=shade), seed=digit))
    assert iou(found.box, ink_box(drawing)) > 0.7
    assert aligned_correlation(found.tensor, alone.tensor) > 0.95


@pytest.mark.parametrize("shade", [60, 110])
@pytest.mark.parametrize("side", ["l", "t", "r", "b"])
@pytest.mark.parametrize("digit", [0, 3, 7])
def test_read_digit_ignores_a_dark_desk_along_one_edge(digit: int, side: str, shade: int) -> None:
    assert_desk_ignored(digit, side, shade)


@pytest.mark.parametrize("shade", [60, 110])
@pytest.mark.parametrize("sides", ["lbr", "tlr", "tlb", "trb"])
@pytest.mark.parametrize("digit", [0, 3, 7])
def test_read_digit_ignores_a_dark_desk_along_three_edges(
    digit: int, sides: str, shade: int
) -> None:
    assert_desk_ignored(digit, sides, shade)


@pytest.mark.parametrize("digit", [2, 6, 9])
def test_read_digit_removes_strong_uneven_light(digit: int) -> None:
    photo = photo_like(sheet(digit), seed=digit)
    found = read(lit_unevenly(photo))
    assert aligned_correlation(found.tensor, read(photo).tensor) > 0.95
    assert iou(found.box, ink_box(sheet(digit))) > 0.7


@pytest.mark.parametrize("digit", [2, 5, 7])
@pytest.mark.parametrize("reach", [250, 300, 350])
def test_read_digit_sees_through_a_hard_edged_shadow_across_a_corner(
    digit: int, reach: int
) -> None:
    photo = photo_like(sheet(digit), seed=digit)  # the shadow's edge crosses the digit
    found = read(in_shadow(photo, reach))
    assert aligned_correlation(found.tensor, read(photo).tensor) > 0.95
    assert iou(found.box, ink_box(sheet(digit))) > 0.7


@pytest.mark.parametrize("digit", [0, 2, 7])
def test_read_digit_sees_through_a_shadow_reaching_the_frame_beside_the_digit(
    digit: int,
) -> None:
    drawing = sheet(digit, offset=(0, -80), scale=0.6)  # 27 px below the frame's top
    photo = photo_like(drawing, seed=digit)
    assert read_digit(picture(photo)) is not None
    found = read_digit(picture(in_shadow(photo, 300)))
    assert found is not None and iou(found.box, ink_box(drawing)) > 0.7


@pytest.mark.parametrize("grid", [False, True], ids=["ruled", "grid"])
@pytest.mark.parametrize("digit", [1, 4, 7, 8])
def test_read_digit_ignores_printed_lines_across_the_digit(grid: bool, digit: int) -> None:
    drawing = sheet(digit)
    alone = read(photo_like(drawing, seed=digit))
    found = read(photo_like(printed_rules(drawing, grid=grid), seed=digit))
    assert aligned_correlation(found.tensor, alone.tensor) > 0.95
    assert iou(found.box, ink_box(drawing)) > 0.7


@pytest.mark.parametrize("digit", [0, 1, 7])
def test_read_digit_ignores_printed_lines_starting_on_an_odd_row(digit: int) -> None:
    drawing = sheet(digit)
    found = read_digit(picture(photo_like(printed_rules(drawing, first=15), seed=digit)))
    assert found is not None and iou(found.box, ink_box(drawing)) > 0.7


@pytest.mark.parametrize("digit", [1, 4, 7])
def test_read_digit_ignores_a_speck_of_dust_away_from_the_digit(digit: int) -> None:
    drawing = sheet(digit)
    dusty = drawing.copy()
    ImageDraw.Draw(dusty).ellipse((30, 300, 42, 312), fill=0)
    alone = read(photo_like(drawing, seed=digit))
    found = read(photo_like(dusty, seed=digit))
    assert found.box == alone.box
    assert aligned_correlation(found.tensor, alone.tensor) > 0.98


@pytest.mark.parametrize("digit", [0, 1, 4, 7])
def test_read_digit_keeps_a_digit_broken_into_two_strokes_together(digit: int) -> None:
    drawing = sheet(digit)
    x, y, width, height = ink_box(drawing)
    broken = np.asarray(drawing).copy()
    broken[y + height // 2 - 6 : y + height // 2 + 6, :] = 255  # a dry pen's gap across it
    found = read(photo_like(Image.fromarray(broken), seed=digit))
    assert iou(found.box, (x, y, width, height)) > 0.9
    assert aligned_correlation(found.tensor, clean(digit)) > 0.9


@pytest.mark.parametrize(
    "image",
    [
        Image.new("L", (200, 200), 255),
        Image.new("L", (28, 28), 0),
        Image.new("L", (50, 40), 128),
        photo_like(Image.new("L", SIZE, 255), seed=1),
        photo_like(printed_rules(Image.new("L", SIZE, 255)), seed=2),
        photo_like(on_desk(Image.new("L", SIZE, 255), "lbr"), seed=3),
    ],
    ids=["white", "black", "gray", "photo-of-blank-paper", "ruled-paper", "sheet-on-desk"],
)
def test_read_digit_finds_nothing_on_a_blank_sheet(image: Image.Image) -> None:
    assert read_digit(picture(image)) is None
    assert read_number(picture(image)) == []


PHONE_SHADOWS = [((380, 330), (170, 80)), ((50, 50), (150, 60))]
"""Where the closing cannot follow the shadow's curve: without the rule that ink is darker
than the paper on every side, each of these left a crescent of shadow read as a digit."""


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize(("centre", "axes"), PHONE_SHADOWS)
def test_read_digit_finds_nothing_in_a_hard_shadow_on_a_blank_sheet(
    centre: tuple[int, int], axes: tuple[int, int], seed: int
) -> None:
    shadowed = under_a_phone_shadow(photo_like(Image.new("L", SIZE, 255), seed), centre, axes)
    assert read_digit(picture(shadowed)) is None
    assert read_number(picture(shadowed)) == []


def assert_read_beside_shadow(digit: int, centre: tuple[int, int], axes: tuple[int, int]) -> None:
    drawing = sheet(digit, offset=(0, 0), scale=0.5)
    alone = read(photo_like(drawing, seed=digit))
    found = read(under_a_phone_shadow(photo_like(drawing, seed=digit), centre, axes))
    assert iou(found.box, ink_box(drawing)) > 0.7
    assert aligned_correlation(found.tensor, alone.tensor) > 0.95


@pytest.mark.parametrize("digit", [1, 4, 8])
def test_read_digit_reads_the_digit_not_a_hard_shadow_beside_it(digit: int) -> None:
    assert_read_beside_shadow(digit, *PHONE_SHADOWS[1])


def test_read_digit_reads_a_digit_whose_foot_a_hard_shadow_touches() -> None:
    """The crescent joins the 1 at its foot; what stands out of the crescent is the 1."""
    assert_read_beside_shadow(1, *PHONE_SHADOWS[0])


@pytest.mark.xfail(
    strict=True,
    reason="slivers of the crescent join the digit along its side: the piece is mostly the "
    "digit, whose rim is paper, so the darkness going on past the slivers is too small a "
    "share of the whole to tell; the box takes in the slivers",
)
@pytest.mark.parametrize("digit", [4, 8])
def test_read_digit_reads_a_digit_a_hard_shadow_touches_along_its_side(digit: int) -> None:
    assert_read_beside_shadow(digit, *PHONE_SHADOWS[0])


@pytest.mark.parametrize("digit", [1, 4, 9])
def test_read_digit_reads_a_faint_digit_on_clean_paper(digit: int) -> None:
    """A digit 15 % darker than flat paper, in a 64-colour palette (the holdout sets' faint
    9s): under the 18 % a stroke must reach at first, but clear of any grain."""
    faint = sheet(digit, ink=200, paper=235).filter(ImageFilter.GaussianBlur(1))
    upload = decode_image(encode(faint.convert("RGB").quantize(64), "PNG"), max_pixels=MAX_PIXELS)
    first = find_ink(upload.gray)
    assert find_digit(first.mask, first.contrast) is None, "read at first: not faint enough"
    found = read_digit(upload)
    assert found is not None, "no digit found"
    assert iou(found.box, ink_box(sheet(digit))) > 0.9
    assert aligned_correlation(found.tensor, clean(digit)) > 0.9


def desk_alone(shade: int, seed: int) -> Image.Image:
    """A desk filling the frame: ``shade`` as drawn, with a wood grain's streaks along it."""
    rng = np.random.default_rng(seed)
    streaks = np.repeat(rng.normal(0, 0.06, (SIZE[1] // 4, 1)), 4, axis=0)  # (H, 1)
    grain = np.broadcast_to(1 + streaks, (SIZE[1], SIZE[0]))  # (H, W)
    return Image.fromarray(np.clip(shade * grain, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("shade", [40, 70, 110, 160])
def test_read_digit_finds_nothing_on_a_desk_alone(shade: int) -> None:
    desk = photo_like(desk_alone(shade, seed=shade), seed=shade)
    assert read_digit(picture(desk)) is None
    assert read_number(picture(desk)) == []


@pytest.mark.parametrize("shape", [(1, 3000), (3000, 2), (64, 5000), (1, 1), (3, 3)])
def test_read_digit_survives_extreme_shapes(shape: tuple[int, int]) -> None:
    strip = np.full(shape, 255, np.uint8)
    strip[: shape[0] // 2 + 1, : shape[1] // 2] = 0
    assert read_digit(Picture(strip, (shape[1], shape[0]))) is None


@pytest.mark.xfail(
    strict=True,
    reason="ink._is_dark_on_light takes a bold 8 (half the frame inked) for light ink on "
    "dark; its strokes touch the frame and are dropped, and the paper inside its lower "
    "loop is returned as the digit: a confident answer about a hole",
)
@pytest.mark.parametrize("side", [100, 200])
def test_read_digit_never_takes_the_paper_inside_a_bold_digit_for_one(side: int) -> None:
    bold = draw_digit(8, (side, side), scale=1.5, stroke=side * 22 // 100)
    found = read_digit(picture(bold))
    assert found is None or iou(found.box, ink_box(bold)) > 0.7


@pytest.mark.parametrize(
    ("digit", "side"), [(0, "left"), (3, "left"), (8, "left"), (3, "bottom"), (8, "bottom")]
)
def test_read_digit_reads_a_digit_the_frame_cuts_in_a_photo(digit: int, side: str) -> None:
    """A photo cropped so tightly that the digit runs into the frame: its strokes meet the
    frame along part of their extent there, where a desk or a shadow runs all along it. (A 0
    cut at the bottom, where ``photo_like``'s light falls off most, joins the dark corner
    and is not found: README, "What it does not handle".)"""
    page = draw_digit(digit, (600, 800), scale=0.9)
    x, y, width, height = ink_box(page)
    cut = (x + 12, 0, 600, 800) if side == "left" else (0, 0, 600, y + height - 12)
    photo = photo_like(page.crop(cut), seed=digit)
    found = read(photo)
    assert iou(found.box, ink_box(page.crop(cut))) > 0.8
    assert aligned_correlation(found.tensor, clean(digit)) > 0.7


def test_read_digit_reads_a_1_cropped_close_around_it() -> None:
    drawing = draw_digit(1)
    x, y, width, height = ink_box(drawing)
    crop = drawing.crop((x - 4, y - 4, x + width + 4, y + height + 4))
    found = read_digit(picture(crop))
    assert found is not None and iou(found.box, (4, 4, width, height)) > 0.7


# read_digit: where the digit is


@pytest.mark.parametrize("digit", range(10))
@pytest.mark.parametrize("offset", [(0, 0), (120, 60), (-140, -70)])
def test_read_digit_box_holds_the_drawn_digit(digit: int, offset: tuple[int, int]) -> None:
    drawing = draw_digit(digit, SIZE, offset=offset, scale=0.5)
    found = read(photo_like(drawing, seed=digit))
    assert iou(found.box, ink_box(drawing)) > 0.8
    assert all(isinstance(v, int) for v in found.box)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_read_digit_box_is_in_the_upright_pixels_of_an_exif_rotated_jpeg(orientation: int) -> None:
    upright = draw_digit(7, SIZE, offset=(90, -40), scale=0.5)
    turns = {
        3: Image.Transpose.ROTATE_180,
        6: Image.Transpose.ROTATE_90,
        8: Image.Transpose.ROTATE_270,
    }
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = photo_like(upright.transpose(turns[orientation]), seed=orientation)
    data = encode(stored, "JPEG", quality=90, exif=exif.tobytes())
    found = read_digit(decode_image(data, max_pixels=MAX_PIXELS))
    assert found is not None
    assert iou(found.box, ink_box(upright)) > 0.8


@pytest.mark.parametrize("at_least", [400, 200])
def test_read_digit_box_is_in_the_uploads_pixels_for_a_jpeg_decoded_at_reduced_scale(
    at_least: int,
) -> None:
    page = draw_digit(4, (800, 600), offset=(-150, 80), scale=0.6)
    data = encode(photo_like(page, seed=4), "JPEG", quality=90)
    reduced = decode_image(data, max_pixels=MAX_PIXELS, at_least=at_least)
    assert reduced.gray.shape[1] < 800
    found = read_digit(reduced)
    assert found is not None
    assert iou(found.box, ink_box(page)) > 0.8


# read_number


@pytest.mark.parametrize("number", ["20", "704", "2026", "31415", "271828"])
def test_read_number_reads_well_spaced_digits_left_to_right(number: str) -> None:
    width = min(800, 140 * len(number) + 60)
    page, boxes = draw_number(number, (width, 260))
    found = read_number(picture(photo_like(page, seed=len(number))))
    assert len(found) == len(number)
    for digit, written, box in zip(found, number, boxes, strict=True):
        assert iou(digit.box, box) > 0.7
        assert aligned_correlation(digit.tensor, clean(int(written))) > 0.85
    lefts = [digit.box[0] for digit in found]
    assert lefts == sorted(lefts)
    assert all(a.box[0] + a.box[2] <= b.box[0] for a, b in zip(found, found[1:], strict=False))


def test_read_number_of_one_digit_is_that_digit() -> None:
    photo = photo_like(sheet(6), seed=6)
    (found,) = read_number(picture(photo))
    alone = read(photo)
    assert found.box == alone.box
    np.testing.assert_allclose(found.tensor, alone.tensor)


def test_read_number_boxes_are_in_the_uploads_pixels_for_a_jpeg_decoded_at_reduced_scale() -> None:
    page, boxes = draw_number("358", (780, 300))
    data = encode(photo_like(page, seed=3), "JPEG", quality=90)
    found = read_number(decode_image(data, max_pixels=MAX_PIXELS, at_least=300))
    assert all(iou(digit.box, box) > 0.7 for digit, box in zip(found, boxes, strict=True))


# as_is (preprocess=none)


def test_as_is_leaves_a_28x28_image_unchanged() -> None:
    digit = clean(2)
    gray = np.round(digit).astype(np.uint8)
    plain = as_is(Picture(gray, (28, 28)))
    np.testing.assert_array_equal(plain.tensor, gray)
    assert plain.box == (0, 0, 28, 28)


def test_as_is_neither_inverts_nor_crops() -> None:
    gray = np.full((56, 112), 255, np.uint8)
    gray[:, :56] = 0  # left half black: stays the left half, stays black
    plain = as_is(Picture(gray, (112, 56)))
    assert plain.tensor.shape == (28, 28) and plain.tensor.dtype == np.float32
    assert plain.tensor[:, :12].max() < 5 and plain.tensor[:, 16:].min() > 250
    assert plain.box == (0, 0, 112, 56)


def test_as_is_boxes_the_whole_upload_when_decoded_at_reduced_scale() -> None:
    data = encode(photo_like(sheet(3), seed=3), "JPEG")
    reduced = decode_image(data, max_pixels=MAX_PIXELS, at_least=100)
    assert as_is(reduced).box == (0, 0, *SIZE)
