"""bench.observability_instructions: callgrind's count per request, each variant beside quiet;
with --python, Python's bytecodes by function."""

import json
from pathlib import Path

import pytest

from bench import observability_cost, observability_instructions
from bench.observability_instructions import Bytecodes, Callgrind, function_name, most_added
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
    observability_instructions.run_counted(
        "both", requests=6, per_flush=3, model_root=MODEL_ROOT, window=Callgrind()
    )
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


def twice(numbers: list[int]) -> list[int]:
    return [number * 2 for number in numbers]


TWICE = "tests/bench/test_observability_instructions.py:twice"


def bytecodes_of_twice(numbers: list[int], tmp_path: Path) -> dict[str, int]:
    out = tmp_path / f"{len(numbers)}.json"
    window = Bytecodes(out)
    twice(numbers)  # before the start: not counted
    window.start()
    twice(numbers)
    window.stop()
    twice(numbers)  # after the stop: not counted
    counted: dict[str, int] = json.loads(out.read_text())
    return counted


def test_bytecodes_are_counted_by_function_between_start_and_stop(tmp_path: Path) -> None:
    one, two, three = (bytecodes_of_twice(list(range(n)), tmp_path) for n in (1, 2, 3))
    comprehension = f"{TWICE}.<locals>.<listcomp>"
    assert one[TWICE] == two[TWICE] == three[TWICE] > 0  # the same bytecodes each call
    each = two[comprehension] - one[comprehension]  # the comprehension's loop, once more
    assert each > 0 and three[comprehension] - two[comprehension] == each


def test_a_function_is_named_by_its_file_under_the_path_it_was_found_on() -> None:
    assert function_name(twice.__code__) == TWICE


def test_the_functions_that_add_most_come_first_and_only_the_top_ones() -> None:
    quiet = {"a": 100.0, "b": 5.0}
    on = {"a": 103.0, "b": 5.0, "c": 40.0, **{f"f{n}": float(n) for n in range(20)}}
    added = most_added(on, quiet)
    assert added[0] == {"function": "c", "added": 40.0}
    assert len(added) == observability_instructions.TOP_FUNCTIONS
    assert {"function": "a", "added": 3.0} not in added  # 3 < the top twelve's last, 8


@pytest.mark.parametrize(("variant", "observed"), [("both", True), ("quiet", False)])
def test_the_child_counts_the_bytecodes_of_the_requests_it_serves(
    variant: str, observed: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(answered, "FLUSH_SECONDS", answered.FLUSH_SECONDS)  # restored after
    monkeypatch.setattr(answered, "MAX_WAITING", answered.MAX_WAITING)
    monkeypatch.setattr(observability_cost, "log_like_the_service", lambda: None)
    out = tmp_path / "counted.json"
    observability_instructions.run_counted(
        variant, requests=4, per_flush=2, model_root=MODEL_ROOT, window=Bytecodes(out)
    )
    counted = json.loads(out.read_text())
    middleware = "service/observability/middleware.py:ObserveRequests.__call__"
    assert counted["service/api/routes/predict.py:predict_digits"] > 0  # the requests' own
    assert (middleware in counted) is observed
