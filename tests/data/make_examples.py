"""Write the example data in tests/data; from the repository root:

    .venv/bin/python -m tests.data.make_examples [--data-dir ../shared/data/mnist]

seven.png is a 7 as a phone would photograph it: dark ink on light paper, off-centre,
unevenly lit, noisy, at 1200x900. Gray, not RGB, to keep the file small (under 300 KB).
two.jpg and number.jpg (2026 in a row) are photographed so too, as JPEG, for the README's
batch and /v1/read examples.

mnist-test-sample.npz holds the first 200 digits of MNIST's test set (LeCun, Cortes &
Burges; CC BY-SA 3.0), for the tests that photograph real handwriting
(``tests/evaluation``); it is written only when MNIST's IDX files are at ``--data-dir``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from evaluation.photoset import write_sample
from tests.service.drawing import draw_digit, draw_number, photo_like

HERE = Path(__file__).resolve().parent
MNIST_SAMPLE = HERE / "mnist-test-sample.npz"
SAMPLE_SIZE = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data/mnist"))
    args = parser.parse_args()
    page = draw_digit(7, (1200, 900), offset=(190, -110), scale=0.8)
    photo = photo_like(page, seed=7).convert("L")
    photo.save(HERE / "seven.png", optimize=True)
    two = photo_like(draw_digit(2, (800, 600), offset=(-60, 40), scale=0.7), seed=2)
    two.convert("L").save(HERE / "two.jpg", quality=85, optimize=True)
    number, _ = draw_number("2026", (1200, 480), scale=0.7)
    photo_like(number, seed=2026).convert("L").save(HERE / "number.jpg", quality=85, optimize=True)
    if args.data_dir.is_dir():
        write_sample(args.data_dir, MNIST_SAMPLE, SAMPLE_SIZE)


if __name__ == "__main__":
    main()
