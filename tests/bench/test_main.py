"""python -m bench's options."""

from pathlib import Path

import pytest

from bench import __main__ as bench_main
from bench.__main__ import parse_args
from bench.serving import BODY_NAMES


def test_every_body_by_default_or_those_named() -> None:
    assert parse_args(["--quick"]).bodies == list(BODY_NAMES)
    assert parse_args(["--quick", "--bodies", "png,json"]).bodies == ["png", "json"]


def test_a_body_the_http_part_cannot_send_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--quick", "--bodies", "json,xml"])
    assert "no such bodies: xml" in capsys.readouterr().err


def test_without_wrk_nothing_runs_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no wrk on it
    out = tmp_path / "results.json"
    assert bench_main.main(["--quick", "--out", str(out)]) == 2
    assert not out.exists()
    assert "apt-get install -y wrk" in capsys.readouterr().out


def test_a_failed_part_leaves_the_last_report_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: object, model: object) -> object:
        raise RuntimeError("the part broke")

    monkeypatch.setitem(bench_main.PART_RUNNERS, "stages", broken)
    out, page = tmp_path / "results.json", tmp_path / "benchmarks.md"
    out.write_text("last run\n")
    page.write_text("last run\n")
    argv = ["--quick", "--parts", "stages", "--out", str(out), "--markdown", str(page)]
    assert bench_main.main(argv) == 1
    assert out.read_text() == page.read_text() == "last run\n"
    assert "left as they were" in capsys.readouterr().out
