"""A request's inputs → the network's input, and where each digit is; whatever the protocol.

A few small inputs (JSON arrays, PNGs of at most ``INLINE_MAX_PIXELS``) are decoded right on
the event loop: that takes 0.1–0.2 ms (``bench/stages.py``), less than a round trip through a
worker thread on a busy 2-core machine. Anything larger is decoded in a worker thread, so the
event loop never decodes a photo.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool

from model.spec import network_input
from service.errors import InvalidInput, NoDigit, ServiceError
from service.inputs import arrays, images, ink, photos
from service.inputs.images import Picture
from service.inputs.photos import Box, Digit
from service.inputs.pixel_limits import ImageLimits, PixelBudget, decoding_pixels
from service.observability.metrics import count_no_digit


class Preprocess(StrEnum):
    """``mnist``: normalise like MNIST was made (default for images); ``none``: use as is
    (default for JSON arrays, which are taken to be MNIST-form tensors already)."""

    mnist = "mnist"
    none = "none"


RawInput = bytes | list[Any]
"""Image bytes, or a JSON array of gray levels."""

INLINE_MAX_INPUTS = 4
INLINE_MAX_PIXELS = 64 * 64
INLINE_MAX_BYTES = 32 * 1024
"""Requests of at most ``INLINE_MAX_INPUTS`` arrays or PNGs this small decode on the loop."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_NO_INK = "nothing on it stands out from the paper (or board) as a written digit does"


@dataclass(frozen=True)
class Digits:
    """What a request's inputs become: the network's input, and where each digit is."""

    images: np.ndarray
    """(N, 28, 28, 1) float32 in [0, 1], MNIST form (light on dark), in request order."""
    boxes: list[Box | None]
    """Each digit's box in its upload; None for a JSON array, which has no pixels of its own."""
    viewed: np.ndarray
    """(N,) bool: which digits were cut out of a photo, to be read over a few views of them
    (``Runner.predict``'s ``viewed``)."""

    @classmethod
    def of(cls, found: list[Digit]) -> Digits:
        return cls(
            network_input(np.stack([d.tensor for d in found])),
            [d.box for d in found],
            np.array([d.from_photo for d in found]),
        )


async def to_digits(
    inputs: list[RawInput], preprocess: Preprocess | None, *, limits: ImageLimits
) -> Digits:
    """One digit per input, in order, as the network reads it, with its box in an image; on
    the event loop only if small. Otherwise the images' headers are read in a worker
    thread, the largest image's pixels held (``DecodingPixels``: its images are read one
    after another), and the inputs read in a thread again. ``NoDigit`` names an input that
    shows none."""
    if len(inputs) <= INLINE_MAX_INPUTS and all(map(_is_small, inputs)):
        return _read_all(_opened_all(inputs, limits), preprocess, arrays_plain=True)
    if not any(isinstance(item, bytes) for item in inputs):
        return await run_in_threadpool(_read_all, inputs, preprocess)
    opened = await run_in_threadpool(_opened_all, inputs, limits)
    largest = max(item.pixels for item in opened if isinstance(item, images.Opened))
    async with decoding_pixels(limits.at_once).holding(largest):
        return await run_in_threadpool(_read_all, opened, preprocess)


async def to_number(
    item: RawInput, *, limits: ImageLimits, predict: Callable[[np.ndarray], np.ndarray]
) -> Digits:
    """The digits of the number an image shows, left to right, in a worker thread;
    ``predict`` (a backend's: network input → probabilities) tells touching digits apart
    where their shape alone cannot (``photos.read_number``)."""
    if not isinstance(item, bytes):
        raise InvalidInput("send a photo of a number, not an array: a 28x28 array is one digit")

    def network(tensors: np.ndarray) -> np.ndarray:
        return predict(network_input(tensors))

    def read(opened: images.Opened) -> Digits:
        number = photos.read_number(opened.decode(), network)
        if not number:
            count_no_digit()
            raise NoDigit(f"the image shows no digit: {_NO_INK}")
        return Digits.of(number)

    opened = await run_in_threadpool(_open, item, limits)  # one image: within per_request
    async with decoding_pixels(limits.at_once).holding(opened.pixels):
        return await run_in_threadpool(read, opened)


def _read_all(
    inputs: Sequence[RawInput | images.Opened],
    preprocess: Preprocess | None,
    *,
    arrays_plain: bool = False,
) -> Digits:
    """``to_digits``'s work, blocking; ``arrays_plain``: every JSON array among the inputs
    is known to be a plain 28x28 list of numbers (``_is_small`` found it so)."""
    found = []
    for index, item in enumerate(inputs):
        with _Naming(index, len(inputs)):
            digit = _read(item, preprocess, arrays_plain=arrays_plain)
        if digit is None:
            count_no_digit()
            raise NoDigit(f"{_which(index, len(inputs))} shows no digit: {_NO_INK}")
        found.append(digit)
    return Digits.of(found)


def _is_small(item: RawInput) -> bool:
    """A plain 28×28 JSON array of numbers, or a PNG file of at most ``INLINE_MAX_BYTES``
    whose IHDR chunk (first in every PNG, where Pillow too reads the size) declares at most
    ``INLINE_MAX_PIXELS``: the bytes bound what is checksummed and inflated (extra chunks
    included), the pixels what is normalised. Anything else goes to a thread."""
    if not isinstance(item, bytes):
        return arrays.is_plain_28x28(item)
    if not 24 <= len(item) <= INLINE_MAX_BYTES or not item.startswith(_PNG_SIGNATURE):
        return False
    width, height = (int(side) for side in struct.unpack(">II", item[16:24]))
    return width * height <= INLINE_MAX_PIXELS


def _read(
    item: RawInput | images.Opened, preprocess: Preprocess | None, *, arrays_plain: bool
) -> Digit | None:
    if isinstance(item, images.Opened):
        picture = item.decode()
        return (
            photos.as_is(picture) if preprocess is Preprocess.none else photos.read_digit(picture)
        )
    array = arrays.validate_array(item, plain=arrays_plain)
    if preprocess is not Preprocess.mnist:
        return Digit(array)
    found = photos.read_digit(Picture(np.round(array).astype(np.uint8), array.shape[::-1]))
    return None if found is None else Digit(found.tensor, from_photo=found.from_photo)


def _opened_all(inputs: list[RawInput], limits: ImageLimits) -> list[RawInput | images.Opened]:
    """The inputs with each image's header read and checked, within ``limits.per_image``
    each and ``limits.per_request`` together (one ``PixelBudget``), before any is decoded;
    arrays as they are."""
    budget = PixelBudget(limits.per_request)
    opened: list[RawInput | images.Opened] = []
    for index, item in enumerate(inputs):
        if isinstance(item, bytes):
            with _Naming(index, len(inputs)):
                image = _open(item, limits)
            budget.spend(image.pixels)
            opened.append(image)
        else:
            opened.append(item)
    return opened


def _which(index: int, count: int) -> str:
    return "the image" if count == 1 else f"image {index + 1} of {count}"


class _Naming:
    """Within it, an error of one image of several says which (``image 2 of 3: ...``): the
    client mends that one. An image, not an input: under /v2 an input is a named tensor that
    holds them all. A class, not a generator: it is entered for every image."""

    def __init__(self, index: int, count: int) -> None:
        self.index = index
        self.count = count

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> None:
        if isinstance(error, ServiceError) and self.count > 1:
            which = _which(self.index, self.count)
            raise type(error)(f"{which}: {error.message}", headers=error.headers) from error


def _open(data: bytes, limits: ImageLimits) -> images.Opened:
    return images.open_image(data, max_pixels=limits.per_image, at_least=ink.WORKING_SIDE)
