"""model.artifacts.fingerprint: what tells the repository a version's files changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from model import artifacts


def version_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "3"
    (folder / "variables").mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"onnx")
    (folder / "variables" / "variables.index").write_bytes(b"index")
    return folder


def test_every_file_is_in_it_and_a_rewrite_changes_it(tmp_path: Path) -> None:
    folder = version_folder(tmp_path)
    before = artifacts.fingerprint(folder)
    assert [entry[0] for entry in before] == ["model.onnx", "variables/variables.index"]
    assert artifacts.fingerprint(folder) == before
    (folder / "model.onnx").write_bytes(b"other")
    assert artifacts.fingerprint(folder) != before


def test_a_version_removed_during_the_walk_leaves_what_was_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a version folder deleted (rm -rf) while the repository polls: Path.rglob raised
    FileNotFoundError for its subfolder, which failed the whole poll and dropped a version
    just loaded."""
    folder = version_folder(tmp_path)
    stat = Path.stat

    def removing(path: Path, **kwargs: object) -> object:
        looked = stat(path, **kwargs)  # type: ignore[arg-type]
        shutil.rmtree(folder, ignore_errors=True)
        return looked

    monkeypatch.setattr(Path, "stat", removing)
    seen = [entry[0] for entry in artifacts.fingerprint(folder)]
    assert len(seen) <= 1 and set(seen) <= {"model.onnx", "variables/variables.index"}
