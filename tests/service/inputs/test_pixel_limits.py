"""The pixels a request may decode together, and a process at once."""

from __future__ import annotations

import asyncio

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
