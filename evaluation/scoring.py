"""Send each photo to the API as a client would, and score the answer.

One digit: ``POST /v1/predict`` must answer its digit, with a box that overlaps the drawn
digit's by at least ``BOX_IOU``. No digit: ``/v1/predict`` must answer 422 ``no_digit``. A
number: ``POST /v1/read`` must read every digit. Beside each photo, the same MNIST digits
are sent as 28x28 JSON arrays (no photo at all), so that the table tells the network's own
mistakes from the photo pipeline's.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from evaluation.conditions import Photo
from evaluation.scenes import Box

BOX_IOU = 0.5
"""Least intersection over union of a returned box with the drawn digit's box."""


@dataclass
class Tally:
    """One condition's counts."""

    photos: int = 0
    right: int = 0  # the whole answer right: digit(s), or no_digit for a blank photo
    boxes: int = 0  # photos whose every box overlaps its digit's by BOX_IOU
    digits: int = 0  # digits in the photos, and ...
    digits_right: int = 0  # ... those read right (numbers: per digit, in place)
    mnist_right: int = 0  # the same digits sent as MNIST arrays, read right
    missed: int = 0  # photos of digits answered no_digit
    wrong: list[str] = field(default_factory=list)  # "index: expected -> answered"

    def add(self, other: Tally) -> None:
        for name in ("photos", "right", "boxes", "digits", "digits_right", "mnist_right", "missed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def score(client: httpx.Client, photo: Photo, index: int, sources: np.ndarray, query: str) -> Tally:
    """Send one photo (``sources``: its MNIST test images) and score what comes back."""
    tally = Tally(photos=1, digits=len(photo.digits))
    if len(photo.digits) > 1:
        answer, boxes = _read(client, photo, query)
    else:
        answer, boxes = _predict(client, photo, query)
    tally.right = int(answer == (photo.digits or "no_digit"))
    tally.missed = int(bool(photo.digits) and answer == "no_digit")
    if len(answer) == len(photo.digits):  # digit by digit, where as many came back
        tally.digits_right = sum(a == b for a, b in zip(answer, photo.digits, strict=True))
    tally.boxes = int(
        len(boxes) == len(photo.boxes)
        and all(iou(a, b) >= BOX_IOU for a, b in zip(boxes, photo.boxes, strict=True))
    )
    if photo.digits:
        tally.mnist_right = sum(
            a == b for a, b in zip(_mnist(client, sources, query), photo.digits, strict=True)
        )
    if not tally.right:
        tally.wrong.append(f"{index}: {photo.digits or 'no digit'} -> {answer}")
    return tally


def _predict(client: httpx.Client, photo: Photo, query: str) -> tuple[str, list[Box]]:
    response = client.post(
        f"/v1/predict{query}", content=photo.data, headers={"content-type": photo.content_type}
    )
    if response.status_code == 422 and _code(response) == "no_digit":
        return "no_digit", []
    if response.status_code != 200:
        return f"HTTP {response.status_code}", []
    prediction = response.json()["predictions"][0]
    boxes = [tuple(prediction["box"])] if "box" in prediction else []  # (older servers: none)
    return str(prediction["digit"]), boxes


def _read(client: httpx.Client, photo: Photo, query: str) -> tuple[str, list[Box]]:
    response = client.post(
        f"/v1/read{query}", content=photo.data, headers={"content-type": photo.content_type}
    )
    if response.status_code != 200:
        return f"HTTP {response.status_code}", []
    body = response.json()
    return body["number"], [tuple(digit["box"]) for digit in body["digits"]]


def _mnist(client: httpx.Client, sources: np.ndarray, query: str) -> str:
    response = client.post(
        f"/v1/predict{query}", json={"instances": [image.tolist() for image in sources]}
    )
    response.raise_for_status()
    return "".join(str(p["digit"]) for p in response.json()["predictions"])


def _code(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, width, height) boxes."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(width, 0) * max(height, 0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def table(tallies: dict[str, Tally]) -> list[dict[str, Any]]:
    """One row per condition, then the totals of the single-digit and the blank photos."""
    rows = [_row(name, tally) for name, tally in tallies.items()]
    totals: dict[str, Tally] = defaultdict(Tally)
    for name, tally in tallies.items():
        totals[_kind(name, tally)].add(tally)
    return rows + [_row(f"all {kind}", tally) for kind, tally in totals.items()]


def _kind(name: str, tally: Tally) -> str:
    if tally.digits == 0:
        return "without a digit"
    return "numbers" if tally.digits > tally.photos else "single digits"


def _row(name: str, tally: Tally) -> dict[str, Any]:
    return {
        "condition": name,
        "photos": tally.photos,
        "accuracy": tally.right / tally.photos if tally.photos else 0.0,
        "boxes": tally.boxes / tally.photos if tally.photos and tally.digits else None,
        "digit_accuracy": tally.digits_right / tally.digits if tally.digits else None,
        "mnist_accuracy": tally.mnist_right / tally.digits if tally.digits else None,
        "no_digit_on_digits": tally.missed,
    }
