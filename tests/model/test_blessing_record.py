"""blessing.json: written whole by one rename, read back, and never read as blessed when it is
missing or broken."""

from __future__ import annotations

from pathlib import Path

import pytest

from model import artifacts
from tests.bundled import VERSION


def test_a_blessing_round_trips_and_keeps_what_it_replaced(tmp_path: Path) -> None:
    first = artifacts.record_blessing(tmp_path, artifacts.Blessing("candidate", "worse", by="job"))
    second = artifacts.record_blessing(tmp_path, artifacts.Blessing("blessed", "ok", by="me"))
    read = artifacts.read_blessing(tmp_path)
    assert read == second and read.blessed and read.at
    replaced = {"status": "candidate", "reason": "worse", "by": "job", "at": first.at}
    assert read.history == (replaced,)
    assert [p.name for p in tmp_path.iterdir()] == [artifacts.BLESSING_FILE]  # no temp file left
    assert (tmp_path / artifacts.BLESSING_FILE).stat().st_mode & 0o777 == 0o644


def test_a_missing_or_broken_blessing_reads_as_a_candidate(tmp_path: Path) -> None:
    assert artifacts.read_blessing(tmp_path) == artifacts.UNJUDGED
    for broken in ("{not json", '{"status": "approved"}', "[]"):
        (tmp_path / artifacts.BLESSING_FILE).write_text(broken)
        blessing = artifacts.read_blessing(tmp_path)
        assert blessing.status == "candidate" and artifacts.BLESSING_FILE in blessing.reason


@pytest.mark.parametrize("history", ["null", "3", '["x"]', '{"a": 1}'])
def test_a_blessing_with_a_broken_history_reads_as_a_candidate(tmp_path: Path, history) -> None:
    """It used to raise TypeError, which stopped the repository from serving any version."""
    (tmp_path / artifacts.BLESSING_FILE).write_text(
        f'{{"status": "blessed", "reason": "ok", "history": {history}}}'
    )
    blessing = artifacts.read_blessing(tmp_path)
    assert blessing.status == "candidate" and "history" in blessing.reason


def test_the_bundled_version_is_blessed() -> None:
    """Version 1 alone: versions a user has trained, blessed or rolled back beside it are
    theirs (the root is where ``make train`` publishes)."""
    assert artifacts.read_blessing(VERSION).status == "blessed"
