"""Which versions may answer requests that name no version: the training job's judgement at
publish time, and blessing or rolling back by hand.

A service on the model root answers from its newest *blessed* version
(``service/runtime/repository.py``). The job runs without a server, or beside several, so "the
version being served now" is read from the repository, not asked of a server: it is that same
newest blessed version. The record on disk is ``model.artifacts``' ``blessing.json``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model import artifacts
from training.data import IDX_FILES

FLOORS = {"best": 0.99, "lecture": 0.97}
"""The least test accuracy a recipe's version is blessed with, whatever it is compared with:
a little under what each scores in full (99.42 % and 97.98 %, the README's table), so that a
broken run is never blessed into a repository with nothing blessed to compare with. A quick
run (``--limit``) is never blessed by the job at all: on a few test images a lucky one
scores 100 % (one image in six runs of ``--limit 6``)."""

TEST_FILES = (IDX_FILES["x_test"], IDX_FILES["y_test"])
"""MNIST's test images and labels: a version's accuracy is compared only on the same."""
JOB = "python -m training"
FORCED = "python -m training --force"


@dataclass(frozen=True)
class Baseline:
    """The version a service on the root answers from by default, and its test metrics."""

    version: int
    test_accuracy: float
    test_samples: int
    test_files: dict[str, str] = field(default_factory=dict)
    """The SHA-256 of the files its test images and labels came from, where known."""


def serving_baseline(root: Path) -> Baseline | None:
    """The newest blessed version under ``root``, or None when nothing is blessed."""
    blessed = [v for v, blessing in artifacts.blessings(root).items() if blessing.blessed]
    if not blessed:
        return None
    card = artifacts.read_json(root / str(blessed[-1]) / artifacts.METRICS_FILE)
    return Baseline(blessed[-1], card["test_accuracy"], card["test_samples"], tested_on(card))


def tested_on(card: dict[str, Any]) -> dict[str, str]:
    """The SHA-256 of the test images' and labels' files a model card names, by file name:
    none for data downloaded by Keras, which the job does not hash."""
    hashes = card.get("data", {}).get("sha256", {})
    return {name: hashes[name] for name in TEST_FILES if name in hashes}


def judge(
    card: dict[str, Any], baseline: Baseline | None, floor: float, *, force: bool
) -> artifacts.Blessing:
    """Blessed when the new version's test accuracy is at least the baseline's and the floor,
    on the same test images as the baseline's and all of them, or when ``force`` says so; a
    candidate otherwise. The reason names both accuracies, and what else held it back.

    Accuracies on different test images are not compared: a run on a subset (``--limit``,
    the card's ``data.limit``) tests on a few hundred images or fewer, and one on other
    files on other digits. Either is left for a person to bless."""
    accuracy = card["test_accuracy"]
    bars = {f"the floor {percent(floor)}": floor}
    held_back = []
    if baseline is not None:
        note = ""
        if card["test_samples"] != baseline.test_samples:
            note = f", on {baseline.test_samples} test images to this one's {card['test_samples']}"
        kept = percent(baseline.test_accuracy)
        bars = {
            f"v{baseline.version}'s {kept} (the newest blessed{note})": baseline.test_accuracy,
            **bars,
        }
        theirs, ours = baseline.test_files, tested_on(card)
        if note or any(theirs[name] != ours[name] for name in theirs.keys() & ours.keys()):
            held_back.append(f"it was not tested on v{baseline.version}'s test images")
    limit = card.get("data", {}).get("limit")
    if limit is not None:
        held_back.append(f"it was trained and tested on a subset (--limit {limit})")
    below = [name for name, bar in bars.items() if accuracy < bar]
    if below:
        reason = f"test accuracy {percent(accuracy)} is below {' and '.join(below)}"
    else:
        reason = f"test accuracy {percent(accuracy)} is at least {' and '.join(bars)}"
    if baseline is None:
        reason += "; no version was blessed to compare with"
    if held_back:
        reason += f"; held back: {' and '.join(held_back)}"
    if (below or held_back) and force:
        return artifacts.Blessing("blessed", f"{reason}; blessed anyway (--force)", by=FORCED)
    return artifacts.Blessing("candidate" if below or held_back else "blessed", reason, by=JOB)


def percent(accuracy: float) -> str:
    return f"{100 * accuracy:.2f} %"


def bless(root: Path, version: int, reason: str) -> artifacts.Blessing:
    """Mark ``version`` blessed (again, if it was revoked); refuses a version that is not on
    disk whole (``NotServable``)."""
    folder = servable(root, version)
    with artifacts.blessings_locked(root):
        return artifacts.record_blessing(
            folder, artifacts.Blessing("blessed", reason, by="python -m training.bless")
        )


def rollback(root: Path, reason: str) -> tuple[int, int]:
    """Revoke the newest blessed version, so that the blessed one before it answers by default.

    Refused when fewer than two versions are blessed: it would leave nothing to serve.
    Returns the revoked version and the one that now answers.
    """
    if not root.is_dir():  # before its lock, which would be named as the missing file
        raise RollbackRefused(f"no model root at {root}: nothing to roll back")
    with artifacts.blessings_locked(root):
        blessed = [v for v, blessing in artifacts.blessings(root).items() if blessing.blessed]
        if len(blessed) < 2:
            named = f"only v{blessed[0]} is" if blessed else "no version is"
            raise RollbackRefused(f"{named} blessed under {root}: nothing to roll back to")
        revoked, previous = blessed[-1], blessed[-2]
        artifacts.record_blessing(
            root / str(revoked),
            artifacts.Blessing("revoked", reason, by="python -m training.rollback"),
        )
    return revoked, previous


class RollbackRefused(Exception):
    """A rollback that would leave no blessed version."""


class NotServable(Exception):
    """A version that is not there, or not whole: blessed, it could not answer, and the
    next training job could not compare itself with it."""


def servable(root: Path, version: int) -> Path:
    """The folder of ``version``, with every file the service loads and a readable model
    card: a folder copied by hand, or cut short, is refused before it is blessed."""
    if version not in artifacts.list_versions(root):
        raise NotServable(f"no version {version} under {root}")
    folder = root / str(version)
    missing = (
        artifacts.VERSION_FILES - {artifacts.BLESSING_FILE} - {p.name for p in folder.iterdir()}
    )
    if missing:
        raise NotServable(f"v{version} under {root} lacks {', '.join(sorted(missing))}")
    try:
        accuracy = artifacts.read_json(folder / artifacts.METRICS_FILE)["test_accuracy"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise NotServable(f"v{version}'s {artifacts.METRICS_FILE} is unreadable: {exc}") from exc
    if not isinstance(accuracy, float | int):
        raise NotServable(f"v{version}'s {artifacts.METRICS_FILE} has no test accuracy")
    return folder


def add_root_option(parser: argparse.ArgumentParser) -> None:
    """``--root``, the model root a blessing command works on, as the service finds it."""
    parser.add_argument(
        "--root",
        type=Path,
        default=artifacts.ModelRootSettings().model_root,
        help="model root (default: $LENET_MODEL_ROOT, else artifacts/lenet)",
    )
