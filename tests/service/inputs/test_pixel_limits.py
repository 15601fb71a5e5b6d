"""The pixels a request may decode together, and a process at once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from service.errors import PayloadTooLarge
from service.inputs.pixel_limits import DecodingPixels, PixelBudget


def test_a_budget_refuses_what_it_has_not_left_and_keeps_the_rest() -> None:
    budget = PixelBudget(100)
    budget.spend(60)
    with pytest.raises(PayloadTooLarge, match="more than 100 pixels together"):
        budget.spend(41)
    budget.spend(40)
    assert budget.left == 0


async def taking(at_once: DecodingPixels, pixels: int, taken: list[int]) -> None:
    """Hold ``pixels`` a moment, once they are free, and note them in ``taken``."""
    async with at_once.holding(pixels):
        taken.append(pixels)


async def is_waiting(task: asyncio.Task[None]) -> bool:
    await asyncio.sleep(0.05)
    return not task.done()


@pytest.mark.anyio
@pytest.mark.parametrize("held", [80, 10_000], ids=["within the most", "over it: alone"])
async def test_pixels_past_the_most_wait_until_given_back(held: int) -> None:
    at_once = DecodingPixels(100)
    taken: list[int] = []
    async with at_once.holding(held):
        waiting = asyncio.create_task(taking(at_once, 30, taken))
        assert await is_waiting(waiting) and not taken
    await asyncio.wait_for(waiting, 5)
    assert taken == [30]


@pytest.mark.anyio
async def test_requests_wait_their_turn_in_order() -> None:
    """A large image queued first is not overtaken by small ones that would fit: it would
    wait for as long as they kept coming."""
    at_once = DecodingPixels(100)
    taken: list[int] = []
    async with at_once.holding(80):
        large = asyncio.create_task(taking(at_once, 90, taken))
        assert await is_waiting(large)
        small = asyncio.create_task(taking(at_once, 10, taken))
        assert await is_waiting(small)  # 20 free, but the large one is first
    await asyncio.wait_for(asyncio.gather(large, small), 5)
    assert taken == [90, 10]


@pytest.mark.anyio
async def test_a_request_cancelled_while_it_waits_leaves_the_queue_to_those_behind() -> None:
    """A client gone while its images wait: they are never decoded, and do not hold up the
    next request, which fits."""
    at_once = DecodingPixels(100)
    taken: list[int] = []
    async with at_once.holding(80):
        large = asyncio.create_task(taking(at_once, 90, taken))
        small = asyncio.create_task(taking(at_once, 10, taken))
        assert await is_waiting(small)
        large.cancel()
        await asyncio.wait_for(small, 5)  # while the 80 are still held
        assert taken == [10]
    with pytest.raises(asyncio.CancelledError):
        await large
    await asyncio.wait_for(taking(at_once, 100, taken), 5)  # all given back


@pytest.mark.anyio
async def test_a_request_cancelled_as_its_turn_comes_gives_the_pixels_back() -> None:
    at_once = DecodingPixels(100)
    taken: list[int] = []
    async with at_once.holding(100):
        waiter = asyncio.create_task(taking(at_once, 50, taken))
        assert await is_waiting(waiter)
    waiter.cancel()  # its turn was granted as the 100 came back, but not yet delivered
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await asyncio.wait_for(taking(at_once, 100, taken), 5)
    assert taken == [100]


@pytest.mark.anyio
async def test_pixels_come_back_when_the_work_inside_fails() -> None:
    at_once = DecodingPixels(100)
    with pytest.raises(ValueError):
        async with at_once.holding(100):
            raise ValueError("a corrupt image")
    await asyncio.wait_for(taking(at_once, 100, []), 5)


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
