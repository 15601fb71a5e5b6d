"""bench.observability_instructions: callgrind's count per request, each variant beside quiet."""

from pathlib import Path

import pytest

from bench import observability_instructions


def test_the_count_is_a_dumps_summary_line(tmp_path: Path) -> None:
    dump = tmp_path / "log.callgrind.1"
    dump.write_text("version: 1\ncmd: python\nevents: Ir\nsummary: 4019522672\ntotals: 1\n")
    assert observability_instructions.counted(dump) == 4019522672


def test_a_dump_without_a_summary_is_an_error_not_a_zero(tmp_path: Path) -> None:
    dump = tmp_path / "cut.callgrind.1"
    dump.write_text("version: 1\nevents: Ir\n")
    with pytest.raises(ValueError, match="no summary"):
        observability_instructions.counted(dump)


def test_each_variant_is_set_against_quiet() -> None:
    rows = observability_instructions.summarise(
        {"quiet": 1_000_000.0, "metrics": 1_010_000.0, "log": 1_020_000.4, "both": 1_025_000.0}
    )
    assert [row["variant"] for row in rows] == ["quiet", "metrics", "log", "both"]
    assert [row["added"] for row in rows] == [0, 10_000, 20_000, 25_000]
    assert rows[0]["quiet_over_variant"] == 1.0
    assert rows[3]["quiet_over_variant"] == 0.9756  # 1 / 1.025: req/s if instructions were time


def test_the_variants_are_the_two_settings_each_way() -> None:
    assert sorted(observability_instructions.VARIANTS.values()) == [
        (False, False),
        (False, True),
        (True, False),
        (True, True),
    ]


@pytest.mark.parametrize("asked", [["--requests", "300"], ["--per-flush", "0"]])
def test_counted_requests_must_be_whole_flushes(asked: list[str]) -> None:
    """A part-filled last flush would be written after the count ends: left out of it."""
    with pytest.raises(SystemExit) as refused:
        observability_instructions.main(asked)
    assert refused.value.code == 2
