"""bench.observability_instructions: callgrind's count per request, each variant beside quiet;
with --python, Python's bytecodes by function."""

import dis
import json
import sys
import types
from pathlib import Path
from types import CodeType

import pytest

from bench import observability_cost, observability_instructions
from bench.observability_instructions import (
    Bytecodes,
    Callgrind,
    function_name,
    most_added,
    search_roots,
)
from service.observability import answered
from tests.bundled import MODEL_ROOT


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


@pytest.fixture
def child_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``run_counted`` sets for its process (the flush's limits, the log's handler)
    put back after the test, and the service's log left as pytest has it."""
    monkeypatch.setattr(answered, "FLUSH_SECONDS", answered.FLUSH_SECONDS)
    monkeypatch.setattr(answered, "MAX_WAITING", answered.MAX_WAITING)
    monkeypatch.setattr(observability_cost, "log_like_the_service", lambda: None)


def test_the_count_covers_whole_flushes_of_the_counted_requests_alone(
    child_settings: None, monkeypatch: pytest.MonkeyPatch
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

    answered.flush()  # what other tests' apps answered in this process; a bench's is fresh
    monkeypatch.setattr(answered, "flush", counted_flush)
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
COMPREHENSION = f"{TWICE}.<locals>.<listcomp>"


def bytecodes_of_twice(numbers: list[int], tmp_path: Path) -> dict[str, int]:
    out = tmp_path / f"{len(numbers)}.json"
    window = Bytecodes(out)
    tracing_before = sys.gettrace()  # pytest's or coverage's, if any: put back at the stop
    window.start()
    twice(numbers)
    window.stop()
    assert sys.gettrace() is tracing_before
    counted: dict[str, int] = json.loads(out.read_text())
    return counted


def loop_body(code: CodeType) -> int:
    """The bytecodes one turn of a comprehension's loop runs: FOR_ITER to JUMP_BACKWARD."""
    names = [instruction.opname for instruction in dis.get_instructions(code)]
    return names.index("JUMP_BACKWARD") - names.index("FOR_ITER") + 1


def test_bytecodes_are_counted_by_function_between_start_and_stop(tmp_path: Path) -> None:
    one, two, three = (bytecodes_of_twice(list(range(n)), tmp_path) for n in (1, 2, 3))
    assert one[TWICE] == two[TWICE] == three[TWICE] > 0  # the same bytecodes each call
    [comprehension] = [c for c in twice.__code__.co_consts if isinstance(c, CodeType)]
    each = loop_body(comprehension)  # 7 in Python 3.11
    assert two[COMPREHENSION] - one[COMPREHENSION] == each
    assert three[COMPREHENSION] - two[COMPREHENSION] == each


def test_two_alike_functions_in_two_files_are_counted_apart(tmp_path: Path) -> None:
    source = "def alike():\n    return 1\n"
    first, second = (
        types.FunctionType(compile(source, str(tmp_path / name), "exec").co_consts[0], {})
        for name in ("one.py", "two.py")
    )
    assert first.__code__ == second.__code__  # equal by their contents
    out = tmp_path / "counted.json"
    window = Bytecodes(out)
    window.start()
    first()
    second()
    second()
    window.stop()
    counted = json.loads(out.read_text())
    one, two = (function_name(f.__code__, search_roots()) for f in (first, second))
    assert one != two and 2 * counted[one] == counted[two]


def test_a_function_is_named_by_its_file_under_the_path_it_was_found_on() -> None:
    assert function_name(twice.__code__, search_roots()) == TWICE
    assert function_name(twice.__code__, ["/elsewhere"]).endswith(TWICE)  # the whole path


def test_the_functions_that_add_most_come_first_and_only_the_top_ones() -> None:
    quiet = {"a": 100.0, "b": 5.0}
    on = {"a": 103.0, "b": 5.0, "c": 40.0, **{f"f{n}": float(n) for n in range(20)}}
    assert most_added(on, quiet) == [
        {"function": "c", "added": 40.0},
        *({"function": f"f{n}", "added": float(n)} for n in range(19, 8, -1)),
    ]  # twelve: a's 3 is below the last, f9's 9


@pytest.mark.parametrize(
    "asked",
    [
        ["--child", "quiet", "--python"],
        ["--bytecodes-to", "/tmp/x.json"],
        ["--python", "--bytecodes-to", "/tmp/x.json"],
    ],
)
def test_a_bytecode_count_goes_to_its_file_and_only_from_a_child(asked: list[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        observability_instructions.main(asked)
    assert refused.value.code == 2


@pytest.mark.parametrize(("variant", "observed"), [("both", True), ("quiet", False)])
def test_the_child_counts_the_bytecodes_of_the_requests_it_serves(
    variant: str, observed: bool, tmp_path: Path, child_settings: None
) -> None:
    out = tmp_path / "counted.json"
    observability_instructions.run_counted(
        variant, requests=4, per_flush=2, model_root=MODEL_ROOT, window=Bytecodes(out)
    )
    counted = json.loads(out.read_text())
    middleware = "service/observability/middleware.py:ObserveRequests.__call__"
    assert counted["service/api/routes/predict.py:predict_digits"] > 0  # the requests' own
    assert (middleware in counted) is observed
