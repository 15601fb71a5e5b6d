"""How many pixels a request may decode, and a process at once: the work and the memory
that images cost, which a body's bytes do not bound (a PNG of 160 KB holds 49 M pixels).

``ImageLimits`` gathers the three settings; ``service.inputs.prepare`` applies them.
``python -m bench.decoding_memory`` measures what they hold a server's memory to.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from service.errors import PayloadTooLarge

if TYPE_CHECKING:
    from service.settings import Settings


class ImageLimits(NamedTuple):
    """``per_image`` and ``per_request`` pixels (a 413 above either), and ``at_once``, the
    pixels this process reads at once across its requests (``DecodingPixels``). A tuple, made
    for each request: a frozen dataclass took several times as long."""

    per_image: int
    per_request: int
    at_once: int

    @classmethod
    def of(cls, settings: Settings) -> ImageLimits:
        return cls(
            settings.max_image_pixels, settings.max_request_pixels, settings.max_decoding_pixels
        )


@dataclass
class PixelBudget:
    """The pixels one request's images may decode to, together, as they are decoded.

    ``ImageLimits.per_image`` bounds each image, but a request may hold hundreds, each
    within it and each a PNG of some tens of KB: its decoding work grew with their number
    (commit 219552e measured it). What is spent is what is decoded, so a JPEG read at a
    reduced scale (``images.open_image``'s ``at_least``) costs only the pixels it is read at."""

    total: int
    left: int = field(init=False)

    def __post_init__(self) -> None:
        self.left = self.total

    def spend(self, pixels: int) -> None:
        """Take ``pixels`` from what is left, or refuse them, before they are decoded."""
        if pixels > self.left:
            raise PayloadTooLarge(
                f"the request's images decode to more than {self.total} pixels together; "
                "send them in smaller requests"
            )
        self.left -= pixels


class DecodingPixels:
    """The pixels being decoded at once in this process, across all its requests, at most
    ``most``, from decoding until the image is read (reduced to the network's 28x28):
    that holds up to about 7 bytes a pixel (an RGB PNG: Pillow's 4-byte pixels, their gray,
    NumPy's copy, the photo normaliser's working copies), so a few large images at once
    took more memory than a container has: four requests of one 160 KB, 7000x7000 PNG each
    peak at 1.3 GB read all at once, under 0.5 GB one at a time (``python -m
    bench.decoding_memory``, with and without ``--decoding-pixels`` past them all).

    Requests past ``most`` wait their turn, first come first served, on the event loop: a
    worker thread that waited would be one fewer for every other request (the thread pool
    has 40), and a request cancelled while it waits leaves the queue undecoded. An image
    larger than ``most`` is read alone."""

    def __init__(self, most: int) -> None:
        self.most = most
        self._free = most
        self._waiting: deque[_Waiter] = deque()
        self._lock = threading.Lock()  # a process may run several loops (tests do)

    @asynccontextmanager
    async def holding(self, pixels: int) -> AsyncIterator[None]:
        """Wait for ``pixels`` to be free, after those who came first; hold them inside."""
        pixels = min(pixels, self.most)
        with self._lock:
            waiter = None
            if not self._waiting and self._free >= pixels:
                self._free -= pixels
            else:
                waiter = _Waiter(pixels, asyncio.get_running_loop().create_future())
                self._waiting.append(waiter)
        if waiter is not None:
            await self._wait(waiter)
        try:
            yield
        finally:
            self._give_back(pixels)

    async def _wait(self, waiter: _Waiter) -> None:
        try:
            await waiter.turn
        except asyncio.CancelledError:
            with self._lock:
                if waiter in self._waiting:  # never admitted: out of the queue
                    self._waiting.remove(waiter)
                    self._admit()  # those behind it may fit now
                    raise
            if waiter.turn.done() and not waiter.turn.cancelled():
                self._give_back(waiter.pixels)  # admitted as it was cancelled
            raise  # else _grant gives them back, once it finds the turn cancelled

    def _give_back(self, pixels: int) -> None:
        with self._lock:
            self._free += pixels
            self._admit()

    def _admit(self) -> None:
        """Let in those at the head of the queue whose pixels are free (under the lock)."""
        while self._waiting and self._waiting[0].pixels <= self._free:
            waiter = self._waiting.popleft()
            self._free -= waiter.pixels
            waiter.turn.get_loop().call_soon_threadsafe(self._grant, waiter)

    def _grant(self, waiter: _Waiter) -> None:
        if waiter.turn.cancelled():
            self._give_back(waiter.pixels)
        else:
            waiter.turn.set_result(None)


@dataclass(frozen=True, eq=False)
class _Waiter:
    pixels: int
    turn: asyncio.Future[None]


@functools.cache
def decoding_pixels(most: int) -> DecodingPixels:
    """The process's one ``DecodingPixels`` of that size, shared by its apps and requests."""
    return DecodingPixels(most)
