"""Settings that are derived rather than read: how many operator threads a backend gets."""

from __future__ import annotations

import os

import pytest

from service.settings import Settings

CPUS = len(os.sched_getaffinity(0))


@pytest.mark.parametrize("workers", [1, 2, 64])
def test_backend_threads_share_the_cpus_among_worker_processes(workers: int) -> None:
    assert Settings(workers=workers).threads_per_backend == max(1, CPUS // workers)


def test_backend_threads_set_explicitly_win() -> None:
    assert Settings(workers=4, backend_threads=3).threads_per_backend == 3
