"""Where request inputs are decoded: small ones on the event loop, the rest in a thread."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL.PngImagePlugin import PngInfo

from service import decoding
from service.errors import InvalidInput, PayloadTooLarge
from service.examples import EXAMPLE_ARRAY
from tests.service.drawing import draw_digit, encode, png_bomb

pytestmark = pytest.mark.anyio

MAX_PIXELS = 1_000_000


@pytest.fixture
def thread_hops(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The functions ``to_tensors`` hands to the thread pool, in order."""
    hops: list[Any] = []

    async def recording(function: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(function)
        return function(*args, **kwargs)

    monkeypatch.setattr(decoding, "run_in_threadpool", recording)
    return hops


def png(side: int) -> bytes:
    return encode(draw_digit(7, (side, side)), "PNG")


def padded_png(side: int, extra: int) -> bytes:
    """A valid PNG of ``side``² pixels carrying ``extra`` bytes of text: all inflated on load."""
    info = PngInfo()
    info.add_text("comment", "x" * extra)
    return encode(draw_digit(7, (side, side)), "PNG", pnginfo=info)


async def test_a_few_small_pngs_and_arrays_decode_on_the_loop(thread_hops: list[Any]) -> None:
    inputs: list[decoding.RawInput] = [png(28), png(64), EXAMPLE_ARRAY]
    tensors = await decoding.to_tensors(inputs, None, max_pixels=MAX_PIXELS)
    assert tensors.shape == (3, 28, 28) and thread_hops == []


@pytest.mark.parametrize(
    "inputs",
    [
        pytest.param([png(65)], id="a PNG over 64x64"),
        pytest.param([encode(draw_digit(7, (28, 28)), "JPEG")], id="a JPEG however small"),
        pytest.param([png(28)] * (decoding.INLINE_MAX_INPUTS + 1), id="too many inputs"),
        pytest.param([padded_png(28, 64 * 1024)], id="a small PNG of many bytes"),
        pytest.param([[[[v] for v in row] for row in EXAMPLE_ARRAY]], id="a 28x28x1 array"),
    ],
)
async def test_larger_work_goes_to_a_thread(
    thread_hops: list[Any], inputs: list[decoding.RawInput]
) -> None:
    tensors = await decoding.to_tensors(inputs, None, max_pixels=MAX_PIXELS)
    assert tensors.shape == (len(inputs), 28, 28) and len(thread_hops) == 1


async def test_a_tiny_file_of_many_pixels_is_judged_by_its_header(
    thread_hops: list[Any],
) -> None:
    with pytest.raises(PayloadTooLarge):
        await decoding.to_tensors([png_bomb(2000, 2000)], None, max_pixels=MAX_PIXELS)
    assert len(thread_hops) == 1


async def test_loop_and_thread_decode_alike(thread_hops: list[Any]) -> None:
    image = png(28)
    alone = await decoding.to_tensors([image], None, max_pixels=MAX_PIXELS)
    crowded = await decoding.to_tensors([image] * 5, None, max_pixels=MAX_PIXELS)
    assert len(thread_hops) == 1
    np.testing.assert_array_equal(crowded, np.repeat(alone, 5, axis=0))


async def test_an_array_of_the_wrong_shape_is_checked_in_a_thread(
    thread_hops: list[Any],
) -> None:
    with pytest.raises(InvalidInput, match="got 1x100000"):
        await decoding.to_tensors([[[0] * 100_000]], None, max_pixels=MAX_PIXELS)
    assert len(thread_hops) == 1
