"""bench.observability_instructions: callgrind's count per request, each variant beside quiet."""

from pathlib import Path

import pytest

from bench import observability_cost, observability_instructions
from service.observability import answered

MODEL_ROOT = Path(__file__).resolve().parents[2] / "artifacts" / "lenet"


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


def test_the_count_covers_whole_flushes_of_the_counted_requests_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing waits for a flush when the count starts or ends, and the counted requests'
    own flushes fall inside it: the child's patched flush takes effect."""
    flushes = 0
    waiting_at: list[tuple[str, int, int]] = []
    flush = answered.flush

    def counted_flush() -> None:
        nonlocal flushes
        flushes += 1
        flush()

    def control(action: str) -> None:
        waiting_at.append((action, len(answered._waiting), flushes))

    monkeypatch.setattr(answered, "FLUSH_SECONDS", answered.FLUSH_SECONDS)  # restored after
    monkeypatch.setattr(answered, "MAX_WAITING", answered.MAX_WAITING)
    monkeypatch.setattr(answered, "flush", counted_flush)
    monkeypatch.setattr(observability_cost, "log_like_the_service", lambda: None)
    monkeypatch.setattr(observability_instructions, "callgrind_control", control)
    observability_instructions.run_counted("both", requests=6, per_flush=3, model_root=MODEL_ROOT)
    warmup = observability_instructions.WARMUP_FLUSHES
    assert waiting_at == [("--zero", 0, warmup), ("--dump", 0, warmup + 2)]


@pytest.mark.parametrize(
    "asked", [["--requests", "300"], ["--requests", "0"], ["--per-flush", "1"]]
)
def test_counted_requests_must_be_whole_flushes(asked: list[str]) -> None:
    """A part-filled last flush would be written after the count ends: left out of it."""
    with pytest.raises(SystemExit) as refused:
        observability_instructions.main(asked)
    assert refused.value.code == 2
