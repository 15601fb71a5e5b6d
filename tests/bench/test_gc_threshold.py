"""bench.gc_threshold: the service as shipped beside the same with Python's own threshold."""

import gc
from pathlib import Path

import pytest

from bench import gc_threshold


def test_a_pair_differs_only_in_the_young_threshold_and_its_name() -> None:
    shipped, pythons = gc_threshold.pair(Path("models"), 700)
    assert "LENET_GC_THRESHOLD" not in shipped.env  # the default the service ships with
    assert pythons.env == {**shipped.env, "LENET_GC_THRESHOLD": "700"}
    assert pythons.name != shipped.name  # a log file of its own


def test_pythons_threshold_is_a_fresh_interpreters_not_this_process() -> None:
    """What a server has without the setting, whatever this process's is; 700 is Python
    3.11's (the Dockerfile's), which the docs name."""
    kept = gc.get_threshold()
    gc.set_threshold(12345, *kept[1:])
    try:
        assert gc_threshold.pythons_threshold() == 700
    finally:
        gc.set_threshold(*kept)


def test_a_threshold_below_one_is_refused_before_any_server_starts() -> None:
    with pytest.raises(SystemExit) as refused:
        gc_threshold.main(["--threshold", "0"])
    assert refused.value.code == 2  # argparse's usage error
