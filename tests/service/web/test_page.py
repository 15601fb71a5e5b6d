"""The page at / in a real browser: Debian's Chromium, driven by Playwright, against a real
``python -m service`` process (ONNX and NumPy backends), as a person would use it.

Skipped, with the reason in pytest's summary, where ``/usr/bin/chromium`` is missing
(``apt-get install chromium``; ``.ci/run`` installs it). Every test fails on any console
error or uncaught exception in the page. ``WRITE_SCREENSHOTS=1`` (``make screenshots``)
rewrites docs/page-desktop.png and docs/page-phone.png from the same drawings.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.service.processes import ROOT, free_port, service_env, serving

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        f"the page's browser tests need Chromium at {CHROMIUM} (apt-get install chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
expect = sync_api.expect

SCREENSHOTS = os.environ.get("WRITE_SCREENSHOTS") == "1"
DESKTOP = {"viewport": {"width": 1200, "height": 900}}
PHONE = {
    "viewport": {"width": 360, "height": 740},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
LAYERS = {"conv1": 6, "pool1": 6, "conv2": 16, "pool2": 16, "conv3": 1, "fc1": 1, "output": 1}
"""Canvases per layer: a map per channel, or one strip of units."""

Stroke = list[tuple[float, float]]
SEVEN = [[(70, 60), (210, 60), (120, 230)]]
ONE = [[(150, 40), (140, 240)]]
ZERO = [
    [
        (140 + 70 * math.cos(math.radians(a)), 140 + 100 * math.sin(math.radians(a)))
        for a in range(-90, 290, 15)
    ]
]
"""Strokes in the pad's own 280 × 280 pixels."""


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving(service_env(free_port(), LENET_BACKENDS='["onnx","numpy"]')) as url:
        yield url


KEY = "page-test-0123456789abcdef"
HASHED_KEY = "page-test:#!*0123456789"  # no b64token: only its digest can list it


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server that wants an API key (LENET_API_KEYS_FILE)."""
    keys = tmp_path_factory.mktemp("keys") / "api-keys"
    keys.write_text(f"{KEY}\nsha256:{hashlib.sha256(HASHED_KEY.encode()).hexdigest()}\n")
    env = service_env(free_port(), LENET_BACKENDS='["onnx"]', LENET_API_KEYS_FILE=str(keys))
    with serving(env) as url:
        yield url


PREFIX = "/lenet"


@pytest.fixture(scope="module")
def prefixed_server() -> Iterator[str]:
    """A server told that its proxy serves it under PREFIX (LENET_ROOT_PATH)."""
    env = service_env(free_port(), LENET_BACKENDS='["onnx"]', LENET_ROOT_PATH=PREFIX)
    with serving(env) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox"] if os.geteuid() == 0 else [],  # root has no sandbox here
        )
        yield chromium
        chromium.close()


def opened(
    browser, server: str, options: dict, proxy: Callable[[sync_api.Route], None] | None = None
) -> Iterator[sync_api.Page]:
    """The page, loaded and wired to the model, every request through ``proxy`` if given;
    after the test, no console error in it."""
    context = browser.new_context(**options)
    if proxy is not None:
        context.route("**/*", proxy)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    yield page
    context.close()
    assert errors == [], errors


@pytest.fixture
def desktop(browser, server) -> Iterator[sync_api.Page]:
    yield from opened(browser, server, DESKTOP)


@pytest.fixture
def phone(browser, server) -> Iterator[sync_api.Page]:
    yield from opened(browser, server, PHONE)


def draw(page: sync_api.Page, strokes: list[Stroke]) -> None:
    """Draw with the mouse, stroke by stroke, a move every 20 pixels or so."""
    pad = page.locator("#pad").bounding_box()
    scale = pad["width"] / 280
    for stroke in strokes:
        page.mouse.move(pad["x"] + stroke[0][0] * scale, pad["y"] + stroke[0][1] * scale)
        page.mouse.down()
        for (x0, y0), (x, y) in itertools.pairwise(stroke):
            steps = max(1, round(math.dist((x0, y0), (x, y)) / 20))
            page.mouse.move(pad["x"] + x * scale, pad["y"] + y * scale, steps=steps)
        page.mouse.up()


def draw_with_a_finger(page: sync_api.Page, strokes: list[Stroke]) -> None:
    """Draw with touches, as a phone's screen sends them (Playwright itself only taps)."""
    pad = page.locator("#pad").bounding_box()
    scale = pad["width"] / 280
    touch = page.context.new_cdp_session(page)
    for stroke in strokes:
        for kind, (x, y) in zip(
            ["touchStart"] + ["touchMove"] * (len(stroke) - 1), stroke, strict=True
        ):
            point = {"x": pad["x"] + x * scale, "y": pad["y"] + y * scale}
            touch.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [point]})
        touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def read_as(page: sync_api.Page, digit: int, backend: str = "onnx") -> None:
    expect(page.locator("#status")).to_have_text(re.compile(rf"^Read as {digit} .* {backend}\."))
    expect(page.locator("#digit")).to_have_text(str(digit))


def ink(page: sync_api.Page, selector: str) -> list[int]:
    """Per canvas under ``selector``: how many of its pixels are not black or transparent."""
    return page.eval_on_selector_all(
        selector,
        """canvases => canvases.map(c => {
            const pixels = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let lit = 0;
            for (let i = 0; i < pixels.length; i += 4) lit += pixels[i] + pixels[i + 1] > 0;
            return lit;
        })""",
    )


def screenshot(page: sync_api.Page, name: str) -> None:
    """The whole page, when asked, at one CSS pixel per pixel. The viewport is stretched to
    the page's height rather than ``full_page=True``, which drops a phone's touch emulation
    (and so the camera button) while it captures."""
    if not SCREENSHOTS:
        return
    width = page.viewport_size["width"]
    height = page.evaluate("() => document.documentElement.scrollHeight")
    page.set_viewport_size({"width": width, "height": height})
    path = ROOT / "docs" / f"page-{name}.png"
    page.screenshot(path=path, scale="css", animations="disabled", caret="hide")


def test_a_seven_drawn_with_the_mouse_is_read_with_every_layer(desktop):
    draw(desktop, SEVEN)
    read_as(desktop, 7)
    for layer, canvases in LAYERS.items():
        shown = desktop.locator(f'[data-layer="{layer}"][data-shown="true"] canvas')
        expect(shown).to_have_count(canvases)
        assert all(ink(desktop, f'[data-layer="{layer}"] canvas')), layer
    assert ink(desktop, "#input")[0] > 20 and ink(desktop, "#saliency")[0] == 28 * 28
    fc1 = desktop.locator('[data-layer="fc1"]')
    fc1.focus()
    desktop.keyboard.press("ArrowLeft")  # from unit 0 round to the last
    expect(desktop.locator("#map-info")).to_have_text(re.compile(r"^fc1, unit 83 \(0–83\): "))
    strip = fc1.locator("canvas").bounding_box()
    marker = fc1.locator(".marker").bounding_box()  # over the last of 84 cells
    assert marker["x"] == pytest.approx(strip["x"] + strip["width"] * 83 / 84, abs=1)
    assert marker["width"] == pytest.approx(strip["width"] / 84, abs=1)
    fc1.blur()
    desktop.locator('[data-layer="conv2"] canvas[data-channel="5"]').hover()
    info = r"^conv2, channel 5 \(0–15\): 10 × 10, values from -?\d\.\d\d to -?\d\.\d\d$"
    expect(desktop.locator("#map-info")).to_have_text(re.compile(info))
    screenshot(desktop, "desktop")


def test_a_one_and_then_a_zero_are_read(desktop):
    draw(desktop, ONE)
    read_as(desktop, 1)
    desktop.get_by_role("button", name="Clear").click()
    expect(desktop.locator("#status")).to_have_text("Draw a digit to begin.")
    draw(desktop, ZERO)
    read_as(desktop, 0)


@pytest.mark.parametrize(
    "strokes",
    [[[(6, 40), (6, 240)]], [[(150, 40), (145, 280)]]],
    ids=["at-the-side", "off-the-bottom"],
)
def test_a_stroke_drawn_to_the_pads_edge_is_read(desktop, strokes):
    """Sent on a margin of paper: read as a photo, ink that runs into the frame would be the
    sheet's edge, and the one stroke dropped (no digit)."""
    draw(desktop, strokes)
    read_as(desktop, 1)


def test_a_second_finger_on_the_pad_draws_nothing(phone):
    """A pinch: the second finger's points would have joined the first's in one stroke."""
    pad = phone.locator("#pad").bounding_box()
    scale = pad["width"] / 280
    touch = phone.context.new_cdp_session(phone)

    def at(touch_id: int, x: float, y: float) -> dict:
        return {"x": pad["x"] + x * scale, "y": pad["y"] + y * scale, "id": touch_id}

    touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [at(0, 140, 40)]})
    touch.send(
        "Input.dispatchTouchEvent",
        {"type": "touchStart", "touchPoints": [at(0, 140, 40), at(1, 260, 250)]},
    )
    for step in range(1, 11):
        points = [at(0, 140, 40 + 20 * step), at(1, 260 - 10 * step, 250)]
        touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": points})
    touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    read_as(phone, 1)
    ink_where_the_second_finger_went = phone.locator("#pad").evaluate(
        """pad => {
            const scale = pad.width / 280;
            const [x, y, w, h] = [170, 240, 100, 20].map((v) => Math.round(v * scale));
            const pixels = pad.getContext("2d").getImageData(x, y, w, h).data;
            let dark = 0;
            for (let i = 0; i < pixels.length; i += 4) dark += pixels[i] < 128;
            return dark;
        }"""
    )
    assert ink_where_the_second_finger_went == 0


def test_undo_takes_back_the_last_stroke(desktop):
    draw(desktop, [*ONE, *ZERO])
    read_as(desktop, 0)
    desktop.get_by_role("button", name="Undo").click()
    read_as(desktop, 1)


def test_while_a_reading_is_on_its_way_the_last_answer_is_dimmed_and_its_bars_still(desktop):
    """The last answer stayed as it was while "Reading…", and its bars took clicks that did
    nothing."""
    draw(desktop, ONE)
    read_as(desktop, 1)
    desktop.evaluate(
        """() => {
            const fetch = window.fetch;
            window.fetch = (...args) =>
                new Promise((resolve) => setTimeout(resolve, 1500)).then(() => fetch(...args));
        }"""
    )
    draw(desktop, SEVEN)
    expect(desktop.locator("#status")).to_have_text("Reading…")
    expect(desktop.locator("body")).to_have_class(re.compile(r"\breading\b"))
    assert desktop.eval_on_selector("#bars", "bars => bars.inert")
    dimmed = desktop.eval_on_selector(".verdict", "v => getComputedStyle(v).opacity")
    assert float(dimmed) < 1
    read_as(desktop, 7)
    expect(desktop.locator("body")).not_to_have_class(re.compile(r"\breading\b"))
    assert not desktop.eval_on_selector("#bars", "bars => bars.inert")


def test_ctrl_z_undoes_with_caps_lock_on(desktop):
    """Caps Lock sends "Z" (without Shift), which did nothing."""
    draw(desktop, [*ONE, *ZERO])
    read_as(desktop, 0)
    desktop.keyboard.press("Control+Z")
    read_as(desktop, 1)


def test_clear_while_the_drawing_is_encoded_leaves_no_answer(desktop):
    """On a slow phone the drawing takes a while to encode: cleared meanwhile, it was read
    all the same, and its answer shown over the empty pad."""
    desktop.evaluate(
        """() => {
            const toBlob = HTMLCanvasElement.prototype.toBlob;
            HTMLCanvasElement.prototype.toBlob = function (done, ...rest) {
                setTimeout(() => toBlob.call(this, done, ...rest), 1000);
            };
        }"""
    )
    draw(desktop, SEVEN)
    desktop.wait_for_timeout(500)  # past the pause before a reading, the drawing encoding
    desktop.get_by_role("button", name="Clear").click()
    desktop.wait_for_timeout(2000)
    expect(desktop.locator("#digit")).to_have_text("?")
    expect(desktop.locator("#status")).to_have_text("Draw a digit to begin.")


def test_a_photo_is_read_and_its_box_drawn_on_it(desktop):
    desktop.locator("#pick").set_input_files(ROOT / "tests" / "data" / "seven.png")
    read_as(desktop, 7)
    expect(desktop.locator("#photo-figure")).to_be_visible()
    # the box's four sides, 4 pixels wide, around a digit ~160 px tall
    assert red_pixels(desktop, "#photo") > 500


def red_pixels(page: sync_api.Page, selector: str) -> int:
    count: int = page.eval_on_selector(
        selector,
        """c => {
            const pixels = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let red = 0;
            for (let i = 0; i < pixels.length; i += 4)
                red += pixels[i] > 200 && pixels[i + 1] < 80 && pixels[i + 2] < 80;
            return red;
        }""",
    )
    return count


def test_a_large_photo_is_sent_scaled_down_and_its_box_drawn_on_what_was_sent(desktop, tmp_path):
    """Not the whole of a photo over 2048 px, twice: a JPEG of 2048 px, in whose pixels the
    API's box is, as the photo shown is."""
    seven = Image.open(ROOT / "tests" / "data" / "seven.png").convert("RGB")
    large = tmp_path / "large.png"
    seven.resize((seven.width * 2, seven.height * 2), Image.Resampling.BICUBIC).save(large)
    desktop.evaluate(
        """() => {
            const fetch = window.fetch;
            window.sent = [];
            window.fetch = (url, init) => {
                const file = init?.body instanceof FormData && init.body.get("file");
                if (file) window.sent.push([file.type, file.size]);
                return fetch(url, init);
            };
        }"""
    )
    desktop.locator("#pick").set_input_files(large)
    read_as(desktop, 7)
    sent = desktop.evaluate("() => window.sent")
    assert len(sent) == 2 and {kind for kind, _ in sent} == {"image/jpeg"}, sent
    assert all(size < large.stat().st_size / 2 for _, size in sent), sent
    assert red_pixels(desktop, "#photo") > 500


def test_a_large_photo_of_light_ink_on_a_transparent_sheet_keeps_its_ink(desktop, tmp_path):
    """Scaled down onto white paper as a JPEG, its white strokes vanished: no digit. Sent as
    a PNG that keeps its transparency, it is read as the API reads it whole."""
    sheet = Image.new("RGBA", (3000, 3000), (0, 0, 0, 0))
    stroke = [(900, 600), (2100, 600), (1300, 2500)]
    ImageDraw.Draw(sheet).line(stroke, fill=(255, 255, 255, 255), width=160)
    light = tmp_path / "light.png"
    sheet.save(light)
    desktop.locator("#pick").set_input_files(light)
    read_as(desktop, 7)


def test_a_large_photo_turned_by_its_exif_is_sent_upright(desktop, tmp_path):
    """Its JPEG made in the browser has no EXIF: the turn is made before, as the API would."""
    seven = Image.open(ROOT / "tests" / "data" / "seven.png").convert("RGB")
    upright = seven.resize((seven.width * 2, seven.height * 2), Image.Resampling.BICUBIC)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # shown turned back: orientation 6
    exif = Image.Exif()
    exif[0x0112] = 6
    photo = tmp_path / "turned.jpg"
    stored.save(photo, exif=exif, quality=90)
    desktop.locator("#pick").set_input_files(photo)
    read_as(desktop, 7)
    shown = desktop.eval_on_selector("#photo", "c => c.width > c.height")
    assert shown  # landscape, as the upright photo is


def test_another_backend_reads_the_same_digit(desktop):
    draw(desktop, SEVEN)
    read_as(desktop, 7)
    labels = "bars => bars.map(bar => bar.getAttribute('aria-label'))"
    first = desktop.locator("#bars button").evaluate_all(labels)
    desktop.get_by_label("Backend").select_option("numpy")
    read_as(desktop, 7, backend="numpy")
    assert desktop.locator("#bars button").evaluate_all(labels) == first  # to the page's 0.1 %


def eight_read_as_three_alone(folder: Path) -> Path:
    """MNIST test digit 184, dark on white and five times its size: an 8 read over the API's
    views (54 %), a 3 when its 28 × 28 is read once (58 %)."""
    digit = np.load(ROOT / "tests" / "data" / "mnist-test-sample.npz")["images"][184]
    big = cv2.resize(255 - digit, (140, 140), interpolation=cv2.INTER_LINEAR)
    path = folder / "eight.png"
    cv2.imwrite(str(path), cv2.copyMakeBorder(big, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255))
    return path


LABELS = "bars => bars.map(bar => bar.getAttribute('aria-label'))"


def test_another_backend_reads_the_image_again_not_its_28x28(desktop, tmp_path):
    desktop.locator("#pick").set_input_files(eight_read_as_three_alone(tmp_path))
    read_as(desktop, 8)
    first = desktop.locator("#bars button").evaluate_all(LABELS)
    desktop.get_by_label("Backend").select_option("numpy")
    read_as(desktop, 8, backend="numpy")
    assert desktop.locator("#bars button").evaluate_all(LABELS) == first


def test_choosing_a_bar_keeps_the_readings_probabilities(desktop, tmp_path):
    desktop.locator("#pick").set_input_files(eight_read_as_three_alone(tmp_path))
    read_as(desktop, 8)
    first = desktop.locator("#bars button").evaluate_all(LABELS)
    desktop.locator("#bars [data-digit='3']").click()
    expect(desktop.locator("#status")).to_have_text(re.compile("^Why 3:"))
    expect(desktop.locator("#bars [data-digit='3']")).to_have_attribute("aria-pressed", "true")
    assert desktop.locator("#bars button").evaluate_all(LABELS) == first
    expect(desktop.locator("#bars .predicted")).to_have_attribute("data-digit", "8")
    expect(desktop.locator("#digit")).to_have_text("8")


def test_an_input_a_rounding_error_past_1_is_explained_not_refused(browser, server):
    """The API's input once reached 1.0000001 (a stretch's rounding): the page sent it back
    as 255.00003, and the API's 422 wiped the answer. Here the proxy puts it back."""

    def proxy(route: sync_api.Route) -> None:
        if "/v1/activations" not in route.request.url:
            route.continue_()
            return
        response = route.fetch()
        body = response.json()
        body["input"][14][14] = 1.0000001192092896  # float32's next after 1
        route.fulfill(response=response, body=json.dumps(body))

    for page in opened(browser, server, DESKTOP, proxy):
        draw(page, SEVEN)
        read_as(page, 7)
        page.locator("#bars [data-digit='1']").click()
        expect(page.locator("#status")).to_have_text(re.compile("^Why 1:"))
        expect(page.locator("#digit")).to_have_text("7")


def test_choosing_a_bar_explains_that_digit(desktop):
    draw(desktop, SEVEN)
    read_as(desktop, 7)
    saliency = desktop.locator("#saliency")
    predicted = saliency.evaluate("c => c.toDataURL()")
    expect(desktop.locator("#bars [data-digit='7']")).to_have_attribute("aria-pressed", "true")
    desktop.locator("#bars [data-digit='1']").click()
    expect(desktop.locator("#status")).to_have_text(re.compile("^Why 1:"))
    expect(desktop.locator("#bars [data-digit='1']")).to_have_attribute("aria-pressed", "true")
    expect(desktop.locator("#saliency-caption")).to_contain_text("Why 1")
    assert saliency.evaluate("c => c.toDataURL()") != predicted
    desktop.locator("#bars [data-digit='3']").focus()
    desktop.keyboard.press("Enter")
    expect(desktop.locator("#bars [data-digit='3']")).to_have_attribute("aria-pressed", "true")


def test_a_phone_shows_everything_without_scrolling_sideways(phone):
    draw_with_a_finger(phone, SEVEN)
    read_as(phone, 7)
    for layer in LAYERS:
        expect(phone.locator(f'[data-layer="{layer}"]')).to_have_attribute("data-shown", "true")
    width = phone.evaluate("() => document.documentElement.clientWidth")
    assert phone.evaluate("() => document.documentElement.scrollWidth") == width == 360
    for element in phone.locator(":is(main section, canvas, button, label, select):visible").all():
        box = element.bounding_box()
        assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= width
    assert phone.evaluate("() => window.scrollY") == 0  # drawing did not scroll the page
    screenshot(phone, "phone")


def test_a_server_that_wants_a_key_asks_for_one_and_then_reads(browser, keyed_server):
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(keyed_server)
    expect(page.locator("#status")).to_have_text("The server needs an API key.")
    expect(page.locator("#key-help")).to_contain_text("needs an API key")
    page.get_by_label("API key").fill("not-the-key-0123456789")
    page.get_by_role("button", name="Use this key").click()
    expect(page.locator("#status")).to_have_text("The API key was not accepted.")
    expect(page.locator("#key-help")).to_contain_text("did not accept")
    page.get_by_label("API key").fill(KEY)
    page.get_by_role("button", name="Use this key").click()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#key")).to_be_hidden()
    expect(page.locator("#undo")).to_be_focused()  # not <body>, with the form gone
    draw(page, SEVEN)
    read_as(page, 7)
    page.locator("#curves summary").click()  # a picture the key must fetch too
    expect(page.locator("#curves img")).to_have_attribute("src", re.compile("^data:image/png"))
    assert page.evaluate("() => sessionStorage.getItem('lenet-serve.api-key')") == KEY
    context.close()
    refused = re.compile(r"status of 401 \(Unauthorized\)$")  # the browser's own, per 401
    assert len(errors) == 2 and all(refused.search(e) for e in errors), errors


UNAUTHORIZED = re.compile(r"status of 401 \(Unauthorized\)$")
"""The browser's own console error for each 401."""


@contextlib.contextmanager
def asking_for_a_key(browser, url: str) -> Iterator[sync_api.Page]:
    """The page of a server that wants a key, showing the key form; after the test, no
    console error in it but the browser's own for each 401."""
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    expect(page.locator("#key")).to_be_visible()
    yield page
    context.close()
    assert all(UNAUTHORIZED.search(e) for e in errors), errors


def give_key(page: sync_api.Page, key: str) -> None:
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Use this key").click()


SAVED_KEY = "() => sessionStorage.getItem('lenet-serve.api-key')"


def test_a_key_no_header_can_carry_is_refused_by_the_form(browser, keyed_server):
    """A fetch cannot send "…" in a header: the key was saved, and every call failed before
    it left, for the life of the tab."""
    with asking_for_a_key(browser, keyed_server) as page:
        give_key(page, f"{KEY}…")
        expect(page.locator("#status")).to_have_text("That is not an API key.")
        expect(page.locator("#key-help")).to_contain_text("A–Z")
        expect(page.locator("#key")).to_be_visible()
        assert page.evaluate(SAVED_KEY) is None
        reads_a_seven_with(page, KEY)


def test_a_key_the_server_lists_by_digest_is_sent_whatever_its_characters(browser, keyed_server):
    with asking_for_a_key(browser, keyed_server) as page:
        reads_a_seven_with(page, HASHED_KEY)


def reads_a_seven_with(page: sync_api.Page, key: str) -> None:
    give_key(page, key)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    draw(page, SEVEN)
    read_as(page, 7)


def test_a_saved_key_no_header_can_carry_is_forgotten_and_asked_again(browser, keyed_server):
    with asking_for_a_key(browser, keyed_server) as page:
        page.evaluate(f"() => sessionStorage.setItem('lenet-serve.api-key', '{KEY}…')")
        page.reload()
        expect(page.locator("#status")).to_have_text("The server needs an API key.")
        expect(page.locator("#key")).to_be_visible()
        assert page.evaluate(SAVED_KEY) is None
        give_key(page, KEY)
        expect(page.locator("body")).to_have_attribute("data-ready", "true")


def test_ctrl_z_undoes_a_stroke_but_in_the_key_field_its_text(browser, keyed_server):
    with asking_for_a_key(browser, keyed_server) as page:
        give_key(page, KEY)
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        draw(page, [*ONE, *ZERO])
        read_as(page, 0)
        page.keyboard.press("Control+z")
        read_as(page, 1)
        page.evaluate("() => sessionStorage.setItem('lenet-serve.api-key', 'revoked-0123456789')")
        draw(page, ZERO)  # read with the revoked key: a 401, and the key form again
        expect(page.locator("#key-input")).to_be_focused()
        drawn = ink(page, "#pad")
        page.locator("#key-input").press_sequentially("abc")
        page.locator("#key-input").press("Control+z")
        expect(page.locator("#key-input")).to_have_value("")
        assert ink(page, "#pad") == drawn


def test_training_curves_that_failed_to_load_load_when_opened_again(browser, server):
    """A network blip at the first opening left the error for good: it loaded only once."""
    blips: list[str] = []
    with routed(browser, server, first("curves.png", sync_api.Route.abort, blips)) as page:
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        curves, picture = page.locator("#curves summary"), page.locator("#curves img")
        curves.click()
        expect(picture).to_have_attribute("alt", re.compile("could not be loaded"))
        curves.click()  # closed
        curves.click()  # and opened again
        expect(picture).to_have_attribute("src", re.compile("^data:image/png"))
        expect(picture).not_to_have_attribute("alt", re.compile("could not be loaded"))
    assert len(blips) == 1


def test_training_curves_refused_for_a_revoked_key_ask_for_one_and_then_load(browser, keyed_server):
    """The picture's own 401 asks for a key, as a reading's does: it showed its error in the
    picture's alt text, with no form to give another key."""
    with asking_for_a_key(browser, keyed_server) as page:
        give_key(page, KEY)
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        page.evaluate("() => sessionStorage.setItem('lenet-serve.api-key', 'revoked-0123456789')")
        page.locator("#curves summary").click()
        expect(page.locator("#key-input")).to_be_focused()
        expect(page.locator("#status")).to_have_text("The API key was not accepted.")
        give_key(page, KEY)
        picture = page.locator("#curves img")
        expect(picture).to_have_attribute("src", re.compile("^data:image/png"))
        expect(picture).not_to_have_attribute("alt", re.compile("could not be loaded"))


def prefix_proxy(server: str, passed: list[str]) -> Callable[[sync_api.Route], None]:
    """The browser's own routing as a proxy that serves ``server`` under PREFIX alone: a
    request under PREFIX goes on to the server without it (its path noted in ``passed``), and
    any other fails, as it would past such a proxy on a machine that is offline."""
    served = urlsplit(server)

    def proxy(route: sync_api.Route) -> None:
        url = urlsplit(route.request.url)
        if url.netloc != served.netloc or not url.path.startswith(f"{PREFIX}/"):
            route.abort()
            return
        passed.append(url.path)
        stripped = url._replace(path=url.path.removeprefix(PREFIX)).geturl()
        route.fulfill(response=route.fetch(url=stripped))

    return proxy


def test_under_a_proxys_prefix_the_page_and_its_calls_stay_under_it(browser, prefixed_server):
    """A request outside PREFIX fails (a console error, which fails the test)."""
    passed: list[str] = []
    proxy = prefix_proxy(prefixed_server, passed)
    for page in opened(browser, f"{prefixed_server}{PREFIX}/", DESKTOP, proxy):
        draw(page, SEVEN)
        read_as(page, 7)
        page.locator("#curves summary").click()
        expect(page.locator("#curves img")).to_have_attribute("src", re.compile("^data:image/png"))
        docs = page.get_by_role("link", name="API docs").evaluate("a => a.href")
        assert urlsplit(docs).path == f"{PREFIX}/docs"
    called = {path.removeprefix(PREFIX).split("/")[1] for path in passed}
    assert {"page", "v1"} <= called, passed


REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.mark.parametrize(
    ("docs", "operation"),
    [("docs", ".opblock"), ("redoc", "[data-section-id^='operation/']")],
)
def test_the_api_docs_the_page_links_to_work_offline_under_the_prefix(
    browser, prefixed_server, docs, operation
):
    """Swagger UI and ReDoc render the API's operations with nothing from another origin:
    FastAPI's own pages load them from a CDN, and stayed blank offline. But for ReDoc's
    attribution logo, which it drops when it cannot load it."""
    passed: list[str] = []
    context = browser.new_context(**DESKTOP)
    context.route("**/*", prefix_proxy(prefixed_server, passed))
    page = context.new_page()
    errors: list[str] = []

    def console(message: sync_api.ConsoleMessage) -> None:
        if message.type == "error" and message.location["url"] != REDOC_LOGO:
            errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{prefixed_server}{PREFIX}/{docs}")
    expect(page.locator(operation).first).to_be_attached()
    context.close()
    assert errors == [], errors
    assert f"{PREFIX}/openapi.json" in passed, passed


Handler = Callable[[sync_api.Route], None]


def first(part: str, answer: Handler, seen: list[str]) -> Handler:
    """A route handler: the first request whose URL holds ``part`` gets ``answer`` (its URL
    noted in ``seen``); every other goes on to the server."""

    def handle(route: sync_api.Route) -> None:
        if part in route.request.url and not seen:
            seen.append(route.request.url)
            answer(route)
        else:
            route.continue_()

    return handle


@contextlib.contextmanager
def routed(browser, url: str, handler: Handler, clock: bool = False) -> Iterator[sync_api.Page]:
    """The page at ``url`` on the desktop, every request through ``handler`` (and on a clock
    the test moves, where ``clock``); the errors it logs are the test's to expect."""
    context = browser.new_context(**DESKTOP)
    context.route("**/*", handler)
    page = context.new_page()
    if clock:
        page.clock.install()
    page.goto(url)
    yield page
    context.close()


def test_a_page_that_could_not_reach_the_model_tries_again(browser, server):
    """The first GET /v1/model gets no answer (a network blip): tried again, the page works."""
    blips: list[str] = []
    with routed(browser, server, first("/v1/model", sync_api.Route.abort, blips)) as page:
        expect(page.locator("#status")).to_have_text(re.compile("Trying again in 1 s"))
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        draw(page, SEVEN)
        read_as(page, 7)
    assert len(blips) == 1


def test_an_error_page_that_is_not_json_is_named_by_its_status(browser, server):
    """A proxy's HTML 502, not a JSON parse error; the drawing is kept for the next try."""

    def gateway(route: sync_api.Route) -> None:
        route.fulfill(status=502, content_type="text/html", body="<html>Bad Gateway</html>")

    with routed(browser, server, first("/v1/activations", gateway, [])) as page:
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        draw(page, SEVEN)
        expect(page.locator("#status")).to_have_text("The server answered 502 Bad Gateway.")
        page.locator("#backend").select_option("numpy")  # reads the same drawing again
        read_as(page, 7, "numpy")


def test_a_reading_the_server_sheds_is_sent_again_after_its_retry_after(browser, server):
    """A 503 with Retry-After, as a server shedding load answers: read again, not failed."""

    def busy(route: sync_api.Route) -> None:
        error = {"status": 503, "code": "overloaded", "message": "busy; retry shortly"}
        route.fulfill(
            status=503,
            headers={"Retry-After": "1"},
            content_type="application/json",
            body=json.dumps({"error": error}),
        )

    shed: list[str] = []
    with routed(browser, server, first("/v1/activations", busy, shed)) as page:
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        draw(page, SEVEN)
        expect(page.locator("#status")).to_have_text("The server is busy; reading again in 1 s.")
        read_as(page, 7)
    assert len(shed) == 1


def test_a_reading_never_answered_fails_in_a_minute(browser, server):
    """A hung server: not "Reading..." for ever. The page's clock is moved on, not waited."""

    def hung(route: sync_api.Route) -> None:
        if "/v1/activations" not in route.request.url:  # never answered
            route.continue_()

    with routed(browser, server, hung, clock=True) as page:
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        draw(page, SEVEN)
        expect(page.locator("#status")).to_have_text("Reading…")
        page.clock.fast_forward("01:01")
        expect(page.locator("#status")).to_have_text("The service did not answer in 60 s.")
