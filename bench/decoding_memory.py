"""``python -m bench.decoding_memory``: the memory a server takes to read large images sent at
once, and what it keeps after (``LENET_MAX_DECODING_PIXELS``, ``service.inputs.pixel_limits``).

Starts ``python -m service`` on ONNX Runtime, as deployed, sends ``--requests`` requests at
once, each one PNG of ``--side``² pixels (RGB, a stroke on white: tens of KB, decoded to
~7 bytes a pixel at its peak), and prints one JSON line: the statuses, the process's
resident memory before, its peak (VmHWM) and after. ``--decoding-pixels`` sets the limit
under test; one past all the requests' pixels together is what the process did without it.

    python -m bench.decoding_memory                                  # as configured
    python -m bench.decoding_memory --decoding-pixels 1000000000     # all four at once
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from PIL import Image, ImageDraw

from bench import servers

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024


def large_png(side: int) -> bytes:
    """A vertical stroke on white, RGB: what a photo's PNG costs to decode, in little space."""
    image = Image.new("RGB", (side, side), "white")
    ImageDraw.Draw(image).line(
        [(side // 2, side // 4), (side // 2, 3 * side // 4)], fill="black", width=side // 40
    )
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def post(url: str, png: bytes) -> int:
    request = urllib.request.Request(
        f"{url}/v1/predict", data=png, headers={"content-type": "image/png"}
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def measure(
    requests: int, side: int, decoding_pixels: int | None, model_root: Path
) -> dict[str, object]:
    png = large_png(side)
    spec = servers.ours("onnx", model_root)
    if decoding_pixels is not None:
        spec = replace(spec, env={**spec.env, "LENET_MAX_DECODING_PIXELS": str(decoding_pixels)})
    with servers.running([spec]) as (server,):
        before = server.memory_kib()
        with ThreadPoolExecutor(requests) as pool:
            statuses = list(pool.map(lambda _: post(server.url, png), range(requests)))
        after = server.memory_kib()
    return {
        "requests": requests,
        "png_bytes": len(png),
        "pixels_each": side * side,
        "decoding_pixels": decoding_pixels,
        "statuses": statuses,
        "resident_mib_before": round(before["VmRSS"] / MIB),
        "peak_mib": round(after["VmHWM"] / MIB),
        "resident_mib_after": round(after["VmRSS"] / MIB),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.decoding_memory", description=__doc__)
    parser.add_argument("--requests", type=int, default=4, help="sent at once (4)")
    parser.add_argument("--side", type=int, default=7000, help="each PNG's side (7000)")
    parser.add_argument(
        "--decoding-pixels", type=int, help="LENET_MAX_DECODING_PIXELS (default: the setting's)"
    )
    parser.add_argument("--model-root", type=Path, default=ROOT / "artifacts" / "lenet")
    args = parser.parse_args(argv)
    result = measure(args.requests, args.side, args.decoding_pixels, args.model_root)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
