"""The training job's judgement, and blessing and rolling back by command, on a repository of
version folders whose files are all there, but only what the judgement reads (metrics.json,
blessing.json) holds anything."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from model import artifacts
from training import bless, rollback
from training.blessing import FORCED, JOB, Baseline, judge, serving_baseline
from training.blessing import rollback as revoke_newest

MNIST = {"t10k-images-idx3-ubyte.gz": "1a1a05", "t10k-labels-idx1-ubyte.gz": "b91679"}
BASELINE = Baseline(version=1, test_accuracy=0.9942, test_samples=10_000, test_files=MNIST)


def card(
    accuracy: float, samples: int = 10_000, limit: int | None = None, test_files: dict = MNIST
) -> dict:
    data = {"sha256": test_files, **({} if limit is None else {"limit": limit})}
    return {"test_accuracy": accuracy, "test_samples": samples, "data": data}


def version(root: Path, number: int, status: artifacts.BlessingStatus, accuracy: float) -> Path:
    folder = root / str(number)
    folder.mkdir(parents=True)
    for name in artifacts.VERSION_FILES - {artifacts.BLESSING_FILE}:
        (folder / name).touch()
    artifacts.write_json(folder / artifacts.METRICS_FILE, card(accuracy))
    artifacts.record_blessing(folder, artifacts.Blessing(status, "set up by the test"))
    return folder


def statuses(root: Path) -> dict[int, str]:
    return {v: b.status for v, b in artifacts.blessings(root).items()}


def test_a_version_as_good_as_the_served_one_and_the_floor_is_blessed() -> None:
    blessing = judge(card(0.9942), BASELINE, 0.99, force=False)
    assert (blessing.status, blessing.by) == ("blessed", JOB)
    assert "99.42 % is at least v1's 99.42 % (the newest blessed)" in blessing.reason


def test_a_worse_version_is_a_candidate_and_the_reason_names_both_accuracies() -> None:
    blessing = judge(card(0.7312, samples=1_000), BASELINE, 0.99, force=False)
    assert blessing.status == "candidate"
    assert blessing.reason.startswith("test accuracy 73.12 % is below v1's 99.42 %")
    assert "on 10000 test images to this one's 1000" in blessing.reason
    assert "and the floor 99.00 %" in blessing.reason
    assert judge(card(0.9941), BASELINE, 0.99, force=False).status == "candidate"


def test_with_nothing_blessed_the_floor_alone_decides() -> None:
    assert judge(card(0.995), None, 0.99, force=False).status == "blessed"
    below = judge(card(0.985), None, 0.99, force=False)
    assert below.status == "candidate" and "no version was blessed" in below.reason


@pytest.mark.parametrize("baseline", [None, BASELINE], ids=["nothing blessed", "v1 blessed"])
def test_a_quick_run_is_never_blessed_by_the_job(baseline: Baseline | None) -> None:
    """One test image in six runs of --limit 6 scored 100 %: above any floor and any v1."""
    blessing = judge(card(1.0, samples=1, limit=6), baseline, 0.99, force=False)
    assert blessing.status == "candidate"
    assert "held back: " in blessing.reason and "a subset (--limit 6)" in blessing.reason
    assert judge(card(1.0, samples=1, limit=6), baseline, 0.99, force=True).blessed


def test_a_version_tested_on_other_images_is_not_compared() -> None:
    other = {**MNIST, "t10k-labels-idx1-ubyte.gz": "0000"}
    blessing = judge(card(0.999, test_files=other), BASELINE, 0.99, force=False)
    assert blessing.status == "candidate"
    assert "held back: it was not tested on v1's test images" in blessing.reason
    unhashed = judge(card(0.999, test_files={}), BASELINE, 0.99, force=False)
    assert unhashed.blessed  # downloaded by Keras: the same 10,000 images as far as is known


def test_force_blesses_a_worse_version_and_says_so() -> None:
    blessing = judge(card(0.5), BASELINE, 0.99, force=True)
    assert (blessing.status, blessing.by) == ("blessed", FORCED)
    assert blessing.reason.endswith("blessed anyway (--force)") and "below" in blessing.reason


def test_the_baseline_is_the_newest_blessed_version(tmp_path: Path) -> None:
    assert serving_baseline(tmp_path) is None
    version(tmp_path, 1, "blessed", 0.99)
    version(tmp_path, 2, "blessed", 0.993)
    version(tmp_path, 3, "revoked", 0.995)
    version(tmp_path, 4, "candidate", 0.7)
    assert serving_baseline(tmp_path) == Baseline(2, 0.993, 10_000, MNIST)


def test_bless_then_rollback_then_bless_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    version(tmp_path, 1, "blessed", 0.9942)
    version(tmp_path, 2, "candidate", 0.73)
    assert bless.main(["2", "--root", str(tmp_path), "--reason", "compared by hand"]) == 0
    assert statuses(tmp_path) == {1: "blessed", 2: "blessed"}
    assert "blessed v2 (test accuracy 73.00 %; it was candidate" in capsys.readouterr().out
    assert artifacts.read_blessing(tmp_path / "2").reason == "compared by hand"

    assert rollback.main(["--root", str(tmp_path)]) == 0
    assert statuses(tmp_path) == {1: "blessed", 2: "revoked"}
    assert capsys.readouterr().out.startswith("revoked v2; v1, the newest blessed version now")
    history = artifacts.read_blessing(tmp_path / "2").history
    assert [entry["status"] for entry in history] == ["candidate", "blessed"]

    assert rollback.main(["--root", str(tmp_path)]) == 1  # v1 is all that is left
    assert "only v1 is blessed" in capsys.readouterr().err
    assert statuses(tmp_path) == {1: "blessed", 2: "revoked"}
    assert bless.main(["2", "--root", str(tmp_path)]) == 0  # a revoked version, blessed again
    assert statuses(tmp_path) == {1: "blessed", 2: "blessed"}


def test_bless_refuses_a_version_that_is_not_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    version(tmp_path, 1, "blessed", 0.9942)
    assert bless.main(["7", "--root", str(tmp_path)]) == 2
    assert "no version 7" in capsys.readouterr().err
    assert bless.main(["1", "--root", str(tmp_path)]) == 0
    assert "already blessed" in capsys.readouterr().out


@pytest.mark.parametrize("unmade", ["model.onnx", "weights.npz", "metrics.json"])
def test_bless_refuses_a_version_that_is_not_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], unmade: str
) -> None:
    """Blessed, it could not answer (the service falls back), and the next training job
    could not read the baseline's accuracy to compare with."""
    version(tmp_path, 1, "blessed", 0.9942)
    (version(tmp_path, 2, "candidate", 0.995) / unmade).unlink()
    assert bless.main(["2", "--root", str(tmp_path)]) == 2
    assert f"v2 under {tmp_path} lacks {unmade}" in capsys.readouterr().err
    assert statuses(tmp_path) == {1: "blessed", 2: "candidate"}


def test_bless_refuses_a_version_whose_card_is_unreadable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (version(tmp_path, 2, "candidate", 0.995) / artifacts.METRICS_FILE).write_text("{}")
    assert bless.main(["2", "--root", str(tmp_path)]) == 2
    assert "v2's metrics.json is unreadable" in capsys.readouterr().err
    assert statuses(tmp_path) == {2: "candidate"}


def test_a_rollback_waits_for_the_lock_on_blessings(tmp_path: Path) -> None:
    """Whoever holds the lock has read blessings to decide what to write: a rollback that
    did not wait would revoke the version the other is revoking too."""
    for number in (1, 2, 3):
        version(tmp_path, number, "blessed", 0.99)
    done: list[tuple[int, int]] = []
    waiting = threading.Thread(target=lambda: done.append(revoke_newest(tmp_path, "test")))
    with artifacts.blessings_locked(tmp_path):
        waiting.start()
        waiting.join(0.3)
        assert waiting.is_alive() and not done
        artifacts.record_blessing(tmp_path / "3", artifacts.Blessing("revoked", "the other"))
    waiting.join(5)
    assert done == [(2, 1)]
    assert statuses(tmp_path) == {1: "blessed", 2: "revoked", 3: "revoked"}


def test_rollback_on_a_root_that_is_not_there_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rollback.main(["--root", str(tmp_path / "nope")]) == 1
    assert (
        capsys.readouterr().err
        == f"error: no model root at {tmp_path / 'nope'}: nothing to roll back\n"
    )
