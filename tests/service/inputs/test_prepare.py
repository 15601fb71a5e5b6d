"""service.inputs.prepare: request inputs to the network's input; small ones on the event
loop, the rest in a thread; an image without a digit named."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from service.api.examples import EXAMPLE_ARRAY
from service.errors import InvalidInput, NoDigit, PayloadTooLarge
from service.inputs import photos, prepare
from service.inputs.images import Picture
from service.inputs.photos import Digit
from service.inputs.pixel_limits import ImageLimits, decoding_pixels
from service.inputs.prepare import Preprocess
from tests.service.drawing import (
    draw_digit,
    draw_number,
    encode,
    ink_box,
    iou,
    photo_like,
    png_bomb,
)

pytestmark = pytest.mark.anyio

MAX_PIXELS = 1_000_000
LIMITS = ImageLimits(MAX_PIXELS, MAX_PIXELS, MAX_PIXELS)


@pytest.fixture
def thread_hops(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The functions ``to_digits`` and ``to_number`` hand to the thread pool, in order."""
    hops: list[Any] = []

    async def recording(function: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(function)
        return function(*args, **kwargs)

    monkeypatch.setattr(prepare, "run_in_threadpool", recording)
    return hops


def png(side: int) -> bytes:
    return encode(draw_digit(7, (side, side)), "PNG")


def padded_png(side: int, extra: int) -> bytes:
    """A valid PNG of ``side``² pixels carrying ``extra`` bytes of text: all inflated on load."""
    info = PngInfo()
    info.add_text("comment", "x" * extra)
    return encode(draw_digit(7, (side, side)), "PNG", pnginfo=info)


BLANK_PHOTO = encode(photo_like(Image.new("L", (400, 300), 255), seed=1), "JPEG")


# to_digits: where the work is done


async def test_a_few_small_pngs_and_arrays_decode_on_the_loop(thread_hops: list[Any]) -> None:
    inputs: list[prepare.RawInput] = [png(28), png(64), EXAMPLE_ARRAY]
    digits = await prepare.to_digits(inputs, None, limits=LIMITS)
    assert digits.images.shape == (3, 28, 28, 1) and thread_hops == []


@pytest.mark.parametrize(
    "inputs",
    [
        pytest.param([png(65)], id="a PNG over 64x64"),
        pytest.param([encode(draw_digit(7, (28, 28)), "JPEG")], id="a JPEG however small"),
        pytest.param([png(28)] * (prepare.INLINE_MAX_INPUTS + 1), id="too many inputs"),
        pytest.param([padded_png(28, 64 * 1024)], id="a small PNG of many bytes"),
        pytest.param([[[[v] for v in row] for row in EXAMPLE_ARRAY]], id="a 28x28x1 array"),
    ],
)
async def test_larger_work_goes_to_a_thread(
    thread_hops: list[Any], inputs: list[prepare.RawInput]
) -> None:
    """Arrays in one hop; images in two, their headers read in the first, so that the
    pixels they will decode to are waited for on the loop between them."""
    digits = await prepare.to_digits(inputs, None, limits=LIMITS)
    images = any(isinstance(item, bytes) for item in inputs)
    assert digits.images.shape == (len(inputs), 28, 28, 1)
    assert len(thread_hops) == (2 if images else 1)


async def test_a_tiny_file_of_many_pixels_is_judged_by_its_header(
    thread_hops: list[Any],
) -> None:
    with pytest.raises(PayloadTooLarge):
        await prepare.to_digits([png_bomb(2000, 2000)], None, limits=LIMITS)
    assert len(thread_hops) == 1


async def test_loop_and_thread_decode_alike(thread_hops: list[Any]) -> None:
    image = png(28)
    alone = await prepare.to_digits([image], None, limits=LIMITS)
    crowded = await prepare.to_digits([image] * 5, None, limits=LIMITS)
    assert len(thread_hops) == 2
    np.testing.assert_array_equal(crowded.images, np.repeat(alone.images, 5, 0))
    assert crowded.boxes == alone.boxes * 5


async def test_an_array_of_the_wrong_shape_is_checked_in_a_thread(
    thread_hops: list[Any],
) -> None:
    with pytest.raises(InvalidInput, match="got 1x100000"):
        await prepare.to_digits([[[0] * 100_000]], None, limits=LIMITS)
    assert len(thread_hops) == 1


async def test_a_requests_images_decode_to_at_most_its_pixel_budget() -> None:
    inputs: list[prepare.RawInput] = [png(500)] * 4  # 250,000 pixels each
    limits = ImageLimits(MAX_PIXELS, 999_999, MAX_PIXELS)
    with pytest.raises(PayloadTooLarge, match="more than 999999 pixels together"):
        await prepare.to_digits(inputs, None, limits=limits)
    digits = await prepare.to_digits(inputs[:3], None, limits=limits)
    assert len(digits.images) == 3


async def test_images_wait_for_the_process_pixels_on_the_loop_not_in_a_thread(
    thread_hops: list[Any],
) -> None:
    """Requests take their turn with the process's other decoders, the limit being on the
    memory they all share; one that waits holds no worker thread meanwhile (only its
    headers have been read). The loop's own small PNGs never wait."""
    limits = ImageLimits(MAX_PIXELS, MAX_PIXELS, at_once=123_457)  # this test's own
    async with decoding_pixels(limits.at_once).holding(limits.at_once):
        waiting = asyncio.create_task(prepare.to_digits([png(500)], None, limits=limits))
        inline = await asyncio.wait_for(prepare.to_digits([png(28)], None, limits=limits), 5)
        assert len(inline.images) == 1
        await asyncio.sleep(0.2)
        assert not waiting.done() and len(thread_hops) == 1  # the headers' hop alone
    assert len((await asyncio.wait_for(waiting, 5)).images) == 1
    assert len(thread_hops) == 2


async def test_an_images_pixels_are_held_until_it_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reading a photo takes working copies of it at full size: the pixels it holds are
    given back once it is a 28x28, not once it is decoded."""
    limits = ImageLimits(MAX_PIXELS, MAX_PIXELS, at_once=250_000)  # this test's own
    shared = decoding_pixels(limits.at_once)
    loop = asyncio.get_running_loop()
    read_digit = photos.read_digit
    others: list[concurrent.futures.Future[None]] = []

    async def take_one() -> None:
        async with shared.holding(1):
            pass

    def reading(picture: Picture) -> Digit | None:  # in the worker thread
        others.append(asyncio.run_coroutine_threadsafe(take_one(), loop))
        with pytest.raises(concurrent.futures.TimeoutError):
            others[0].result(timeout=0.2)  # waiting: the image's pixels are held
        return read_digit(picture)

    monkeypatch.setattr(photos, "read_digit", reading)
    digits = await prepare.to_digits([png(500)], None, limits=limits)  # 250,000 pixels
    assert len(digits.images) == 1
    await asyncio.wait_for(asyncio.wrap_future(others[0]), 5)


async def test_arrays_spend_no_pixel_budget() -> None:
    """They are not decoded: the body limit and their validation bound them."""
    limits = ImageLimits(MAX_PIXELS, 1, MAX_PIXELS)
    digits = await prepare.to_digits([EXAMPLE_ARRAY] * 8, None, limits=limits)
    assert len(digits.images) == 8


# to_digits: what comes out


async def test_an_image_gives_its_digit_and_where_it_is() -> None:
    drawing = draw_digit(3, (300, 240), offset=(50, -20), scale=0.6)
    digits = await prepare.to_digits([encode(drawing, "PNG")], None, limits=LIMITS)
    assert digits.images.shape == (1, 28, 28, 1) and digits.images[0, 0, 0, 0] == 0
    assert iou(digits.boxes[0], ink_box(drawing)) > 0.8


async def test_an_array_is_taken_as_it_is_without_a_box() -> None:
    digits = await prepare.to_digits([EXAMPLE_ARRAY], None, limits=LIMITS)
    np.testing.assert_allclose(digits.images[0, :, :, 0], np.float32(EXAMPLE_ARRAY) / 255)
    assert digits.boxes == [None]


async def test_a_blank_array_is_taken_as_it_is() -> None:
    digits = await prepare.to_digits([[[0] * 28] * 28], None, limits=LIMITS)
    assert not digits.images.any() and digits.boxes == [None]


async def test_an_array_normalised_like_a_photo_has_no_box() -> None:
    digits = await prepare.to_digits([EXAMPLE_ARRAY], Preprocess.mnist, limits=LIMITS)
    array = np.asarray(EXAMPLE_ARRAY, np.float32)
    assert np.corrcoef(digits.images.ravel(), array.ravel())[0, 1] > 0.9
    assert digits.boxes == [None]


async def test_preprocess_none_takes_the_whole_image_as_it_is() -> None:
    data = encode(draw_digit(7, (56, 84), ink=255, paper=0), "PNG")
    digits = await prepare.to_digits([data], Preprocess.none, limits=LIMITS)
    assert digits.boxes == [(0, 0, 56, 84)]


async def test_the_network_input_is_scaled_to_one_and_in_request_order() -> None:
    digits = await prepare.to_digits([png(40), EXAMPLE_ARRAY], None, limits=LIMITS)
    assert digits.images.dtype == np.float32 and digits.images.shape == (2, 28, 28, 1)
    assert 0 <= digits.images.min() and digits.images.max() <= 1
    np.testing.assert_allclose(
        digits.images[1, :, :, 0] * 255, np.float32(EXAMPLE_ARRAY), atol=1e-4
    )
    assert digits.boxes[0] is not None and digits.boxes[1] is None


# to_digits: no digit


async def test_a_blank_photo_is_no_digit() -> None:
    with pytest.raises(NoDigit, match="the image shows no digit"):
        await prepare.to_digits([BLANK_PHOTO], None, limits=LIMITS)


async def test_no_digit_names_the_blank_input_of_a_batch() -> None:
    inputs: list[prepare.RawInput] = [png(100), BLANK_PHOTO, png(100)]
    with pytest.raises(NoDigit, match="image 2 of 3 shows no digit"):
        await prepare.to_digits(inputs, None, limits=LIMITS)


async def test_a_blank_array_normalised_like_a_photo_is_no_digit() -> None:
    with pytest.raises(NoDigit, match="no digit"):
        await prepare.to_digits([[[0] * 28] * 28], Preprocess.mnist, limits=LIMITS)


# to_number


def sure(images: np.ndarray) -> np.ndarray:
    """A network sure of every digit it reads: ``to_number`` cuts no group a digit wide."""
    return np.eye(10, dtype=np.float32)[np.zeros(len(images), int)]


async def test_to_number_reads_a_number_left_to_right_in_a_thread(
    thread_hops: list[Any],
) -> None:
    page, boxes = draw_number("407", (480, 200))
    digits = await prepare.to_number(encode(page, "PNG"), limits=LIMITS, predict=sure)
    assert len(digits.images) == 3 and len(thread_hops) == 2  # its header, then the rest
    assert all(iou(found, box) > 0.7 for found, box in zip(digits.boxes, boxes, strict=True))


async def test_to_number_refuses_an_array() -> None:
    with pytest.raises(InvalidInput, match="not an array"):
        await prepare.to_number(EXAMPLE_ARRAY, limits=LIMITS, predict=sure)


async def test_to_number_of_a_blank_photo_is_no_digit() -> None:
    with pytest.raises(NoDigit, match="no digit"):
        await prepare.to_number(BLANK_PHOTO, limits=LIMITS, predict=sure)


async def test_to_number_refuses_an_image_over_max_pixels() -> None:
    with pytest.raises(PayloadTooLarge):
        await prepare.to_number(png_bomb(2000, 2000), limits=LIMITS, predict=sure)
