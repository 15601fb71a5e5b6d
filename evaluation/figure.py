"""``python -m evaluation.figure``: the README's example, photos with the boxes the API drew.

Two photos of the tuning set, a single digit on a desk and a number, are sent to
``POST /v1/predict`` and ``POST /v1/read`` of ``python -m service`` on the bundled model;
the boxes and digits that come back are drawn on them, side by side, into
``docs/photo-example.png``.
"""

from __future__ import annotations

import argparse
import io
import os
from pathlib import Path

import httpx
from PIL import Image, ImageDraw, ImageOps

from evaluation import photoset
from evaluation.conditions import Photo
from evaluation.server import server
from model.artifacts import ModelRootSettings

HEIGHT = 480
"""Pixels: each photo is shown this tall."""

EXAMPLES = (("phone", 14), ("number", 3))
"""(condition, index) of the tuning set's photos shown."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evaluation.figure", description=__doc__)
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("MNIST_DIR") or "../shared/data/mnist")
    )
    parser.add_argument(
        "--model-root",
        type=Path,
        default=ModelRootSettings().model_root,
        help="the model the started API serves (default: $LENET_MODEL_ROOT, else artifacts/lenet)",
    )
    parser.add_argument("--out", type=Path, default=Path("docs/photo-example.png"))
    args = parser.parse_args(argv)
    digits = photoset.load_digits(args.data_dir)
    seed = photoset.SEEDS["tuning"]
    photos = [photoset.photo(seed, condition, index, digits) for condition, index in EXAMPLES]
    with server(args.model_root, "onnx") as url, httpx.Client(base_url=url, timeout=60) as client:
        panels = [_drawn(photo, _answer(client, photo)) for photo in photos]
    figure = Image.new(
        "RGB", (sum(p.width for p in panels) + 8 * (len(panels) - 1), HEIGHT), "white"
    )
    left = 0
    for panel in panels:
        figure.paste(panel, (left, 0))
        left += panel.width + 8
    figure.save(args.out, optimize=True)
    print(f"wrote {args.out}")


def _answer(client: httpx.Client, photo: Photo) -> list[tuple[int, list[int]]]:
    """(digit, box) for every digit the API found, left to right."""
    route = "/v1/read" if len(photo.digits) > 1 else "/v1/predict"
    response = client.post(route, content=photo.data, headers={"content-type": photo.content_type})
    response.raise_for_status()
    body = response.json()
    found = body["digits"] if "digits" in body else body["predictions"]
    return [(d["digit"], d["box"]) for d in found]


def _drawn(photo: Photo, answer: list[tuple[int, list[int]]]) -> Image.Image:
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(photo.data))).convert("RGB")
    draw = ImageDraw.Draw(image)
    line = max(2, image.height // 200)
    for digit, (x, y, width, height) in answer:
        draw.rectangle((x, y, x + width, y + height), outline=(230, 30, 30), width=line)
        draw.text((x, y - 12 * line), str(digit), fill=(230, 30, 30), font_size=12 * line)
    scale = HEIGHT / image.height
    return image.resize((round(image.width * scale), HEIGHT), Image.Resampling.LANCZOS)


if __name__ == "__main__":
    main()
