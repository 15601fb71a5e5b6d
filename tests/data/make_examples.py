"""Write the example images in tests/data; from the repository root:

    .venv/bin/python -m tests.data.make_examples

seven.png is a 7 as a phone would photograph it: dark ink on light paper, off-centre,
unevenly lit, noisy, at 1200x900. Gray, not RGB, to keep the file small (under 300 KB).
"""

from __future__ import annotations

from pathlib import Path

from tests.service.drawing import draw_digit, photo_like

HERE = Path(__file__).resolve().parent


def main() -> None:
    page = draw_digit(7, (1200, 900), offset=(190, -110), scale=0.8)
    photo = photo_like(page, seed=7).convert("L")
    photo.save(HERE / "seven.png", optimize=True)


if __name__ == "__main__":
    main()
