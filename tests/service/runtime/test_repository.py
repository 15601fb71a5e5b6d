"""Which versions the repository loads and which answers by default, read off blessing.json
(``plan`` loads nothing, so empty version folders with a blessing do)."""

from __future__ import annotations

from pathlib import Path

import pytest

from model import artifacts
from service.runtime.repository import ModelRepository
from service.settings import Settings


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """v1 and v2 blessed, v3 revoked (rolled back), v4 a candidate, v5 never judged."""
    for version, status in enumerate(["blessed", "blessed", "revoked", "candidate"], start=1):
        (tmp_path / str(version)).mkdir()
        artifacts.record_blessing(tmp_path / str(version), artifacts.Blessing(status, "test"))
    (tmp_path / "5").mkdir()
    return tmp_path


def plan(root: Path, **settings: object) -> tuple[list[int], int]:
    planned = ModelRepository(Settings(model_root=root, **settings)).plan()
    return planned.versions, planned.default


def test_the_newest_blessed_version_is_the_default_and_the_only_one_loaded(root: Path) -> None:
    assert plan(root) == ([2], 2)


def test_kept_versions_are_the_default_and_the_newest_others(root: Path) -> None:
    assert plan(root, keep_versions=2) == ([2, 5], 2)
    assert plan(root, keep_versions=3) == ([2, 4, 5], 2)
    assert plan(root, keep_versions=9) == ([1, 2, 3, 4, 5], 2)


def test_without_required_blessing_the_newest_versions_serve(root: Path) -> None:
    assert plan(root, require_blessing=False, keep_versions=2) == ([4, 5], 5)


def test_a_pinned_version_serves_blessed_or_not(root: Path) -> None:
    assert plan(root, model_version=4) == ([4], 4)


def test_nothing_blessed_is_an_error_that_names_the_way_out(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no blessed version .*training\.bless"):
        plan(tmp_path)
