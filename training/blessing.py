"""Which versions may answer requests that name no version: the training job's judgement at
publish time, and blessing or rolling back by hand.

A service on the model root answers from its newest *blessed* version
(``service/runtime/repository.py``). The job runs without a server, or beside several, so "the
version being served now" is read from the repository, not asked of a server: it is that same
newest blessed version. The record on disk is ``model.artifacts``' ``blessing.json``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model import artifacts

FLOORS = {"best": 0.99, "lecture": 0.97}
"""The least test accuracy a recipe's version is blessed with, whatever it is compared with:
a little under what each scores in full (99.42 % and 97.98 %, the README's table), so that a
broken or quick run is never blessed into a repository with nothing blessed to compare with."""

JOB = "python -m training"
FORCED = "python -m training --force"


@dataclass(frozen=True)
class Baseline:
    """The version a service on the root answers from by default, and its test metrics."""

    version: int
    test_accuracy: float
    test_samples: int


def serving_baseline(root: Path) -> Baseline | None:
    """The newest blessed version under ``root``, or None when nothing is blessed."""
    blessed = [v for v, blessing in artifacts.blessings(root).items() if blessing.blessed]
    if not blessed:
        return None
    card = artifacts.read_json(root / str(blessed[-1]) / artifacts.METRICS_FILE)
    return Baseline(blessed[-1], card["test_accuracy"], card["test_samples"])


def judge(
    card: dict[str, Any], baseline: Baseline | None, floor: float, *, force: bool
) -> artifacts.Blessing:
    """Blessed when the new version's test accuracy is at least the baseline's and the floor,
    or when ``force`` says so; a candidate otherwise. The reason names both accuracies."""
    accuracy = card["test_accuracy"]
    bars = {f"the floor {percent(floor)}": floor}
    if baseline is not None:
        note = ""
        if card["test_samples"] != baseline.test_samples:
            note = f", on {baseline.test_samples} test images to this one's {card['test_samples']}"
        kept = percent(baseline.test_accuracy)
        bars = {
            f"v{baseline.version}'s {kept} (the newest blessed{note})": baseline.test_accuracy,
            **bars,
        }
    below = [name for name, bar in bars.items() if accuracy < bar]
    if below:
        reason = f"test accuracy {percent(accuracy)} is below {' and '.join(below)}"
    else:
        reason = f"test accuracy {percent(accuracy)} is at least {' and '.join(bars)}"
    if baseline is None:
        reason += "; no version was blessed to compare with"
    if below and force:
        return artifacts.Blessing("blessed", f"{reason}; blessed anyway (--force)", by=FORCED)
    return artifacts.Blessing("candidate" if below else "blessed", reason, by=JOB)


def percent(accuracy: float) -> str:
    return f"{100 * accuracy:.2f} %"


def bless(root: Path, version: int, reason: str) -> artifacts.Blessing:
    """Mark ``version`` blessed (again, if it was revoked); refuses a version not on disk."""
    folder = existing(root, version)
    return artifacts.record_blessing(
        folder, artifacts.Blessing("blessed", reason, by="python -m training.bless")
    )


def rollback(root: Path, reason: str) -> tuple[int, int]:
    """Revoke the newest blessed version, so that the blessed one before it answers by default.

    Refused when fewer than two versions are blessed: it would leave nothing to serve.
    Returns the revoked version and the one that now answers.
    """
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


def existing(root: Path, version: int) -> Path:
    if version not in artifacts.list_versions(root):
        raise FileNotFoundError(f"no version {version} under {root}")
    return root / str(version)


def add_root_option(parser: argparse.ArgumentParser) -> None:
    """``--root``, the model root a blessing command works on, as the service finds it."""
    parser.add_argument(
        "--root",
        type=Path,
        default=artifacts.ModelRootSettings().model_root,
        help="model root (default: $LENET_MODEL_ROOT, else artifacts/lenet)",
    )
