"""bench.decoding_memory against a real server, on small images: the command runs and
reports what it says it does (the figures themselves are the command's, not a test's)."""

import io
import json

import pytest
from PIL import Image

from bench import decoding_memory
from tests.bundled import MODEL_ROOT


def test_large_png_is_a_stroke_on_white_of_that_side() -> None:
    image = Image.open(io.BytesIO(decoding_memory.large_png(400)))
    assert (image.size, image.mode) == ((400, 400), "RGB")
    assert image.getpixel((0, 0)) == (255, 255, 255) and image.getpixel((200, 200)) == (0, 0, 0)


def test_the_command_reports_the_servers_memory(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--requests", "2", "--side", "600", "--decoding-pixels", "400000"]
    assert decoding_memory.main([*args, "--model-root", str(MODEL_ROOT)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["statuses"] == [200, 200] and result["pixels_each"] == 360_000
    assert result["decoding_pixels"] == 400_000
    assert 0 < result["resident_mib_before"] <= result["peak_mib"]
    assert 0 < result["resident_mib_after"] <= result["peak_mib"]
