"""service.memory: large blocks go back to the OS, whichever thread freed them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

GIVING_BACK = """
import subprocess
import sys
import threading
from service.inputs.images import decode_image
from service.memory import give_large_blocks_back
from tests.service.drawing import png_bomb

def resident_mb():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmRSS")) / 1024

assert give_large_blocks_back()
bomb = png_bomb(6000, 6000)
before = resident_mb()
for _ in range(3):
    reader = threading.Thread(target=lambda: decode_image(bomb, max_pixels=10**8))
    reader.start()
    reader.join()
print(resident_mb() - before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
def test_threads_that_decoded_a_large_image_give_its_memory_back() -> None:
    """In a fresh process, as the service's: without the threshold, each thread's heap kept
    the 16 MB blocks of Pillow's image (51 MB here, after three threads)."""
    kept = subprocess.run(
        [sys.executable, "-c", GIVING_BACK],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert float(kept) < 20
