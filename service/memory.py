"""The C library's allocator, set for a server that decodes large images now and then: what
it frees goes back to the OS rather than staying with the thread that freed it."""

from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter: allocations of at least this many bytes are mapped from
the OS, and unmapped when freed."""
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024


def give_large_blocks_back() -> bool:
    """Have glibc map every allocation of 4 MB or more from the OS and return it when freed;
    False where that cannot be set (another C library).

    By default glibc raises that threshold to the size of each block freed, up to 32 MB, and
    serves the next from its heaps, one heap a thread, which keep what they once held:
    Pillow's image blocks are 16 MB, so each worker thread that once decoded a large image
    kept its memory (``tests/service/test_memory.py`` decodes one in three threads in turn),
    however few images were read at once (``service.inputs.pixel_limits``). A fixed
    threshold also stops that adjusting. The cost is a mapping for each large image's
    buffers, small beside decoding them."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
