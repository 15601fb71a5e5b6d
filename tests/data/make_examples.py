"""Write the example data in tests/data; from the repository root:

    .venv/bin/python -m tests.data.make_examples [--data-dir ../shared/data/mnist]

seven.png is a 7 as a phone would photograph it: dark ink on light paper, off-centre,
unevenly lit, noisy, at 1200x900. Gray, not RGB, to keep the file small (under 300 KB).

mnist-test-sample.npz holds the first 200 digits of MNIST's test set (LeCun, Cortes &
Burges; CC BY-SA 3.0), for the tests that photograph real handwriting
(``tests/evaluation``); it is written only when MNIST's IDX files are at ``--data-dir``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from evaluation.photoset import write_sample
from tests.service.drawing import draw_digit, photo_like

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
    if args.data_dir.is_dir():
        write_sample(args.data_dir, MNIST_SAMPLE, SAMPLE_SIZE)


if __name__ == "__main__":
    main()
