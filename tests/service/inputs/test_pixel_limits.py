"""The pixels a request may decode together, and a process at once."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from service.errors import PayloadTooLarge
from service.inputs.pixel_limits import DecodingPixels, PixelBudget


def in_a_thread(work: Callable[[], Any]) -> threading.Thread:
    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_a_budget_refuses_what_it_has_not_left_and_keeps_the_rest() -> None:
    budget = PixelBudget(100)
    budget.spend(60)
    with pytest.raises(PayloadTooLarge, match="more than 100 pixels together"):
        budget.spend(41)
    budget.spend(40)
    assert budget.left == 0


def taking(at_once: DecodingPixels, pixels: int, taken: list[int]) -> threading.Thread:
    """A thread that holds ``pixels`` a moment, once it may, and notes them in ``taken``."""

    def take() -> None:
        with at_once.holding(pixels):
            taken.append(pixels)

    return in_a_thread(take)


@pytest.mark.parametrize("held", [80, 10_000], ids=["within the most", "over it: alone"])
def test_pixels_past_the_most_wait_until_given_back(held: int) -> None:
    at_once = DecodingPixels(100)
    taken: list[int] = []
    with at_once.holding(held):
        waiting = taking(at_once, 30, taken)
        waiting.join(0.3)
        assert waiting.is_alive() and not taken
    waiting.join(5)
    assert taken == [30]


def test_decoders_wait_their_turn_in_order() -> None:
    """A large image queued first is not overtaken by small ones that would fit: it would
    wait for as long as they kept coming."""
    at_once = DecodingPixels(100)
    order: list[str] = []

    def decode(name: str, pixels: int) -> None:
        with at_once.holding(pixels):
            order.append(name)

    with at_once.holding(80):
        large = in_a_thread(lambda: decode("large", 90))
        time.sleep(0.1)  # queued first
        small = in_a_thread(lambda: decode("small", 10))
        small.join(0.3)
        assert small.is_alive() and order == []  # 20 free, but the large one is first
    large.join(5)
    small.join(5)
    assert order == ["large", "small"]


GIVING_BACK = """
import subprocess
import sys
import threading
from service.inputs.images import decode_image
from service.inputs.pixel_limits import give_large_blocks_back
from tests.service.drawing import png_bomb

def resident_mb():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmRSS")) / 1024

assert give_large_blocks_back()
bomb = png_bomb(6000, 6000)
before = resident_mb()
for _ in range(3):
    reader = threading.Thread(target=lambda: decode_image(bomb, max_pixels=10**8))
    reader.start()
    reader.join()
print(resident_mb() - before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
def test_threads_that_decoded_a_large_image_give_its_memory_back() -> None:
    """In a fresh process, as the service's: without the threshold, each thread's heap kept
    the 16 MB blocks of Pillow's image (51 MB here, after three threads)."""
    kept = subprocess.run(
        [sys.executable, "-c", GIVING_BACK],
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert float(kept) < 20
