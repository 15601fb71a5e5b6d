"""Photo normalisation, the current code beside the previous: what one phone-sized JPEG costs
from its bytes to the 28×28 tensor, decode included, in one process.

The photos are the evaluation set's "phone" and "paper" conditions (``evaluation.photoset``)
of MNIST test digits, alternately, re-encoded at 675×900 (900×675 when landscape) where they
come out another size, so every one is the issue's "~700×900 JPEG". Each photo goes through
both codes in turns, the order flipping every round (new, previous, previous, new, …), so
both see the same machine load and the same caches; a photo's time is its median over the
rounds, and the figures are the median and 90th percentile of those over the photos.

- **current**: what ``POST /v1/predict`` does with an image before the model call,
  ``images.decode_image(data, max_pixels=…, at_least=ink.WORKING_SIDE)``, then
  ``photos.read_digit``, then the views of the digit it cut out (``views.expand``; the model
  then reads nine rows where it read one, which this does not time).
- **previous**: ``service/images.py`` at ``--baseline``, read with ``git show`` and imported
  under a private name (nothing is checked out): ``normalize_mnist(to_grayscale(
  decode_image(data, max_pixels=…)))``.

Run as its own process (``python -m bench.photos``); it prints one JSON document, which says
``skipped`` (and why) when there are no MNIST digits or no baseline revision to compare with.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from bench import baseline
from evaluation import photoset
from model.spec import network_input
from service.inputs import images, ink, photos
from service.runtime import views
from service.settings import Settings
from training.data import MnistUnavailable

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "mnist-test-sample.npz"
"""MNIST test digits committed for the test suite: the fallback without ``--data-dir``."""
CONDITIONS = ("phone", "paper")
SEED = photoset.SEEDS["tuning"]
SIZE = (675, 900)
"""(width, height) of a portrait photo: the issue's "~700×900"; landscape ones are turned."""
QUALITY = 85
PREVIOUS_FILE = "service/images.py"


def load_digits(data_dir: Path) -> tuple[photoset.Digits, str]:
    """MNIST's test digits from ``data_dir``, else the test suite's sample; which one."""
    try:
        return photoset.load_digits(data_dir), str(data_dir)
    except (MnistUnavailable, OSError):
        if not SAMPLE.exists():
            raise
        return photoset.load_digits(SAMPLE), str(SAMPLE.relative_to(ROOT))


def phone_sized(data: bytes) -> bytes:
    """The photo as a 675×900 (or 900×675) JPEG; unchanged if it is that size already."""
    image = Image.open(io.BytesIO(data))
    size = SIZE if image.height >= image.width else SIZE[::-1]
    if image.size == size:
        return data
    buffer = io.BytesIO()
    image.convert("RGB").resize(size, Image.Resampling.LANCZOS).save(
        buffer, "JPEG", quality=QUALITY
    )
    return buffer.getvalue()


def make_photos(count: int, digits: photoset.Digits) -> list[bytes]:
    """``count`` photos, the conditions in turn."""
    return [
        phone_sized(photoset.photo(SEED, CONDITIONS[i % 2], i // 2, digits).data)
        for i in range(count)
    ]


def milliseconds(step: Callable[[bytes], Any], photo: bytes) -> tuple[float, float]:
    """Wall-clock and CPU time (all the process's threads: OpenCV may use several) of one call."""
    started, cpu = time.perf_counter_ns(), time.process_time_ns()
    step(photo)
    return (time.perf_counter_ns() - started) / 1e6, (time.process_time_ns() - cpu) / 1e6


def summary(per_photo: list[tuple[float, float]]) -> dict[str, float]:
    wall = [w for w, _ in per_photo]
    return {
        "median_ms": round(statistics.median(wall), 3),
        "p90_ms": round(float(np.percentile(wall, 90)), 3),
        "median_cpu_ms": round(statistics.median(c for _, c in per_photo), 3),
    }


def measure(revision: str, data_dir: Path, count: int, rounds: int) -> dict[str, Any]:
    try:
        previous = baseline.load_module(revision, PREVIOUS_FILE, "_bench_previous_images")
        commit = baseline.commit(revision)
    except baseline.Unavailable as exc:
        return {"skipped": f"no previous code to compare with: {exc}"}
    try:
        digits, source = load_digits(data_dir)
    except (MnistUnavailable, OSError) as exc:
        return {"skipped": f"no MNIST test digits to draw: {exc}"}
    max_pixels = Settings().max_image_pixels
    data = make_photos(count, digits)

    def current(photo: bytes) -> photos.Digit | None:
        picture = images.decode_image(photo, max_pixels=max_pixels, at_least=ink.WORKING_SIDE)
        digit = photos.read_digit(picture)
        if digit is not None and digit.from_photo:
            views.expand(network_input(digit.tensor[None]), np.array([True]))
        return digit

    def before(photo: bytes) -> np.ndarray:
        gray = previous.to_grayscale(previous.decode_image(photo, max_pixels=max_pixels))
        result: np.ndarray = previous.normalize_mnist(gray)
        return result

    found = sum(current(photo) is not None for photo in data)  # also the warm-up
    inked = sum(bool(before(photo).any()) for photo in data)
    steps = {"current": current, "previous": before}
    per_photo: dict[str, list[tuple[float, float]]] = {name: [] for name in steps}
    for photo in data:
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in steps}
        for round_ in range(rounds):
            for name in list(steps)[:: 1 if round_ % 2 == 0 else -1]:
                runs[name].append(milliseconds(steps[name], photo))
        for name, times in runs.items():
            per_photo[name].append(
                (statistics.median(w for w, _ in times), statistics.median(c for _, c in times))
            )
    paired = [
        new[0] / old[0]
        for new, old in zip(per_photo["current"], per_photo["previous"], strict=True)
    ]
    result = {name: summary(times) for name, times in per_photo.items()}
    return {
        "baseline": {"revision": revision, "commit": commit, "file": PREVIOUS_FILE},
        "photos": count,
        "rounds": rounds,
        "conditions": list(CONDITIONS),
        "digits_from": source,
        "sizes": sorted({f"{w}×{h}" for w, h in (Image.open(io.BytesIO(d)).size for d in data)}),
        "mean_kib": round(sum(map(len, data)) / len(data) / 1024, 1),
        "max_pixels": max_pixels,
        "opencv_threads": cv2.getNumThreads(),
        "digit_found": {"current": found, "previous": inked},
        **result,
        "ratio_median": round(result["current"]["median_ms"] / result["previous"]["median_ms"], 3),
        "ratio_per_photo_median": round(statistics.median(paired), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.photos", description=__doc__)
    parser.add_argument("--baseline", default=baseline.DEFAULT, help="git revision")
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data/mnist"))
    parser.add_argument("--photos", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5, help="timed calls per photo and code")
    args = parser.parse_args(argv)
    photos.use_one_thread()  # as the service runs it (service.app.create_app)
    json.dump(measure(args.baseline, args.data_dir, args.photos, args.rounds), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
