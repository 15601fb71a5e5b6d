"""Which versions the repository loads and which answers by default, read off blessing.json
(``plan`` loads nothing, so empty version folders with a blessing do); then, loading real
copies of the bundled version, what a version that does not load changes: nothing but its
own absence, once, until its files change."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from model import artifacts
from service.runtime import backends, repository
from service.runtime.repository import ModelRepository, NothingToServe
from service.settings import Settings
from tests.service.conftest import MODEL_ROOT


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """v1 and v2 blessed, v3 revoked (rolled back), v4 a candidate, v5 never judged."""
    for version, status in enumerate(["blessed", "blessed", "revoked", "candidate"], start=1):
        (tmp_path / str(version)).mkdir()
        artifacts.record_blessing(tmp_path / str(version), artifacts.Blessing(status, "test"))
    (tmp_path / "5").mkdir()
    return tmp_path


def plan(root: Path, **settings: object) -> tuple[list[int], int]:
    """The versions served and the default, were each to load."""
    chosen = Settings(model_root=root, **settings)
    planned = ModelRepository(chosen).plan()
    default = planned.defaults[0]
    return planned.served(default, chosen.keep_versions), default


def test_the_newest_blessed_version_is_the_default_and_the_only_one_loaded(root: Path) -> None:
    assert plan(root) == ([2], 2)


def test_kept_versions_are_the_default_and_the_newest_others(root: Path) -> None:
    assert plan(root, keep_versions=2) == ([2, 5], 2)
    assert plan(root, keep_versions=3) == ([2, 4, 5], 2)
    assert plan(root, keep_versions=9) == ([1, 2, 3, 4, 5], 2)


def test_the_older_blessed_versions_stand_in_for_the_default_newest_first(root: Path) -> None:
    assert ModelRepository(Settings(model_root=root)).plan().defaults == [2, 1]


def test_without_required_blessing_the_newest_versions_serve(root: Path) -> None:
    assert plan(root, require_blessing=False, keep_versions=2) == ([4, 5], 5)


def test_a_pinned_version_serves_blessed_or_not(root: Path) -> None:
    assert plan(root, model_version=4) == ([4], 4)


def test_nothing_blessed_is_an_error_that_names_the_way_out(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    with pytest.raises(NothingToServe, match=r"no blessed version .*training\.bless"):
        plan(tmp_path)


def test_a_missing_root_is_named_as_missing(tmp_path: Path) -> None:
    with pytest.raises(NothingToServe, match=r"model root .*nowhere is not a folder"):
        plan(tmp_path / "nowhere")


def test_only_folders_named_as_versions_are_versions(tmp_path: Path) -> None:
    """``str.isdigit`` takes all of these; ``int`` reads "003" and "١" as 3 and 1, whose
    folders are not ``root / "3"`` and ``root / "1"``, and refuses "²"."""
    for name in ("2", "10", "003", "²", "١", "9" * 20, ".tmp-4-x", "notes"):
        (tmp_path / name).mkdir()
    assert artifacts.list_versions(tmp_path) == [2, 10]


# Loading: copies of the bundled version, on the NumPy backend (the quickest to load).


def publish(root: Path, version: int, status: str = "blessed") -> Path:
    folder = root / str(version)
    shutil.copytree(MODEL_ROOT / "1", folder)
    artifacts.record_blessing(folder, artifacts.Blessing(status, "test"))  # type: ignore[arg-type]
    return folder


def break_weights(folder: Path) -> None:
    weights = folder / artifacts.WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:5000])


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The versions the repository tries to load, in order."""
    tried: list[int] = []
    real = repository.load_version

    def counted(settings: Settings, path: Path) -> object:
        tried.append(int(path.name))
        return real(settings, path)

    monkeypatch.setattr(repository, "load_version", counted)
    return tried


def repository_of(root: Path, **settings: object) -> ModelRepository:
    return ModelRepository(Settings(model_root=root, backends=["numpy"], **settings))


def test_a_newest_blessed_version_that_does_not_load_leaves_the_one_before_answering(
    tmp_path: Path, loads: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    publish(tmp_path, 1)
    break_weights(publish(tmp_path, 2))
    served = repository_of(tmp_path)
    try:
        served.refresh()  # as at start-up: nothing loaded before
        assert served.get().version == 1 and served.versions() == [1]
        assert loads == [2, 1]
        failures = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(failures) == 1 and "version 2 does not load" in failures[0].getMessage()
        served.refresh()
        served.refresh()
        assert loads == [2, 1]  # unchanged files: not tried again, not logged again
        assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
        shutil.copy(MODEL_ROOT / "1" / artifacts.WEIGHTS_FILE, tmp_path / "2")  # mended
        assert served.refresh()
        assert served.get().version == 2 and loads == [2, 1, 2]
    finally:
        served.close()


def test_a_version_that_failed_is_tried_again_in_a_while_though_its_files_are_the_same(
    tmp_path: Path, loads: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What failed may have been memory or file handles, not the files: a server that
    never tried again would answer 503 until someone touched them."""
    break_weights(publish(tmp_path, 1))
    served = repository_of(tmp_path)
    now = 1000.0
    monkeypatch.setattr(repository, "monotonic", lambda: now)
    try:
        for wait in (repository.RETRY_FIRST_SECONDS, 2 * repository.RETRY_FIRST_SECONDS):
            with pytest.raises(NothingToServe):
                served.refresh()
            tried = len(loads)
            now += wait - 1
            with pytest.raises(NothingToServe):
                served.refresh()
            assert len(loads) == tried  # not yet
            now += 1
        shutil.copy(MODEL_ROOT / "1" / artifacts.WEIGHTS_FILE, tmp_path / "1")
        assert served.refresh() and served.get().version == 1  # mended: at once
    finally:
        served.close()


def test_when_no_blessed_version_loads_the_one_answering_answers_on_as_it_is(
    tmp_path: Path,
) -> None:
    """v2 revoked, and v1, the blessed one before it, does not load: an answer from v2
    rather than none, its blessing shown as it now is."""
    break_weights(publish(tmp_path, 1))
    publish(tmp_path, 2)
    served = repository_of(tmp_path)
    try:
        served.refresh()
        artifacts.record_blessing(tmp_path / "2", artifacts.Blessing("revoked", "rolled back"))
        with pytest.raises(NothingToServe, match="version 1 does not load"):
            served.refresh()
        assert served.get().version == 2
        assert served.blessing(2).status == "revoked"
    finally:
        served.close()


def test_a_candidate_that_does_not_load_holds_up_neither_the_default_nor_a_rollback(
    tmp_path: Path,
) -> None:
    publish(tmp_path, 1)
    publish(tmp_path, 2)
    served = repository_of(tmp_path, keep_versions=3)
    try:
        served.refresh()
        assert served.versions() == [1, 2] and served.get().version == 2
        break_weights(publish(tmp_path, 3, "candidate"))
        served.refresh()
        assert served.versions() == [1, 2] and served.get().version == 2
        artifacts.record_blessing(tmp_path / "2", artifacts.Blessing("revoked", "rolled back"))
        served.refresh()
        assert served.get().version == 1
    finally:
        served.close()


def test_when_nothing_that_may_answer_loads_the_error_names_each_and_why(tmp_path: Path) -> None:
    break_weights(publish(tmp_path, 1))
    (tmp_path / "1" / artifacts.ARCHITECTURE_FILE).write_text("{not json")
    served = repository_of(tmp_path)
    with pytest.raises(NothingToServe, match=r"version 1 does not load: .*architecture\.json"):
        served.refresh()
    assert not served.ready


def test_a_network_that_answers_nan_is_not_served(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files that load, a network that does not work: a NaN bias in an ONNX graph."""
    real = backends.BACKENDS["numpy"]

    class Broken:
        def __init__(self, *args: object) -> None:
            self._backend = real(*args)

        def predict(self, images: np.ndarray) -> np.ndarray:
            return self._backend.predict(images) * np.nan

        def activations(self, images: np.ndarray) -> dict[str, np.ndarray]:
            return self._backend.activations(images)

    monkeypatch.setitem(backends.BACKENDS, "numpy", Broken)
    layers = [
        layer["name"]
        for layer in artifacts.read_json(MODEL_ROOT / "1" / "architecture.json")["layers"]
    ]
    with pytest.raises(ValueError, match="answers a blank image with no probabilities"):
        backends.load_backend("numpy", MODEL_ROOT / "1", layers)
