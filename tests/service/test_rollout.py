"""Safe rollout against ``python -m service``: a version the training job published as a
candidate is not served by default, ``?version=`` reaches it, ``python -m training.bless``
switches the default within the poll interval and ``python -m training.rollback`` switches it
back, while a client that keeps asking sees no failed request."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from model import artifacts
from service.api.examples import EXAMPLE_ARRAY
from tests.service.conftest import MODEL_ROOT
from tests.service.processes import ROOT, free_port, served, service_env
from training.blessing import FLOORS, judge, serving_baseline

POLL_SECONDS = 1.0
SWITCH_MARGIN = 5.0
"""Beyond the poll interval: the command's end to the next request, on a loaded, shared
machine that stalls at times."""
SEVEN = {"instances": [EXAMPLE_ARRAY]}
V2_SEVEN = {
    "inputs": [
        {
            "name": "image",
            "shape": [1, 28, 28, 1],
            "datatype": "FP32",
            "data": np.asarray(EXAMPLE_ARRAY, np.float32).reshape(1, 28, 28, 1).tolist(),
        }
    ]
}


def publish_candidate(root: Path, version: int, test_accuracy: float) -> None:
    """A copy of version 1 with a worse model card, judged and published as the training job
    does it (blessing inside, one rename): training one would take minutes, not seconds."""
    staging = root / f"{artifacts.TEMP_PREFIX}{version}"
    shutil.copytree(root / "1", staging)
    (staging / artifacts.BLESSING_FILE).unlink()
    card = artifacts.read_json(staging / artifacts.METRICS_FILE)
    card.update(version=version, test_accuracy=test_accuracy)
    artifacts.write_json(staging / artifacts.METRICS_FILE, card)
    blessing = judge(card, serving_baseline(root), FLOORS["best"], force=False)
    assert blessing.status == "candidate", blessing
    artifacts.record_blessing(staging, blessing)
    staging.rename(root / str(version))


def run(module: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout


class Traffic(threading.Thread):
    """Predicts the 7 without pause and keeps (status, version answering) of every request."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.answers, self.stopping = url, list[tuple[int, str]](), threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stopping.is_set():
                response = client.post("/v1/predict", json=SEVEN)
                version = response.json().get("version", "") if response.is_success else ""
                self.answers.append((response.status_code, version))

    def stop(self) -> list[tuple[int, str]]:
        self.stopping.set()
        self.join(timeout=15)
        return self.answers


def default_version(client: httpx.Client) -> str:
    version: str = client.post("/v1/predict", json=SEVEN).json()["version"]
    return version


def switch_seconds(client: httpx.Client, version: str, limit: float) -> float:
    """How long until requests that name no version are answered by ``version``."""
    started = time.monotonic()
    while default_version(client) != version:
        assert time.monotonic() - started < limit, f"version {version} never became the default"
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_candidate_is_served_only_when_asked_until_blessed_and_rollback_reverts(
    tmp_path: Path,
) -> None:
    root = tmp_path / "lenet"
    root.mkdir()
    shutil.copytree(MODEL_ROOT / "1", root / "1")
    env = service_env(
        free_port(),
        LENET_MODEL_ROOT=str(root),
        LENET_POLL_SECONDS=str(POLL_SECONDS),
        LENET_KEEP_VERSIONS="2",
        LENET_BACKENDS='["onnx"]',
    )
    log = tmp_path / "service.log"
    with log.open("wb") as stderr, served(env, stderr=stderr) as server:
        traffic = Traffic(server.url)
        traffic.start()
        with httpx.Client(base_url=server.url, timeout=10) as client:
            publish_candidate(root, 2, test_accuracy=0.73)
            deadline = time.monotonic() + 30
            while client.get("/v1/model").json()["versions"] != ["1", "2"]:
                assert time.monotonic() < deadline, "the candidate was never loaded"
                time.sleep(0.1)
            summary = client.get("/v1/model").json()
            assert summary["version"] == summary["default_version"] == "1"
            by_version = {entry["version"]: entry for entry in summary["loaded"]}
            assert by_version["1"]["default"] and by_version["1"]["blessing"]["status"] == "blessed"
            assert not by_version["2"]["default"] and by_version["2"]["test_accuracy"] == 0.73
            assert by_version["2"]["blessing"]["status"] == "candidate"
            assert "below v1's 99.42 %" in by_version["2"]["blessing"]["reason"]
            time.sleep(POLL_SECONDS)  # another look at the disk: still not the default
            assert default_version(client) == "1"
            asked = client.post("/v1/predict?version=2", json=SEVEN).json()
            assert asked["version"] == "2" and asked["predictions"][0]["digit"] == 7
            v2 = client.post("/v2/models/lenet/infer", json=V2_SEVEN).json()
            assert v2["model_version"] == "1"  # /v2 picks the default the same way
            candidate = client.get("/v1/model?version=2").json()
            assert candidate["blessing"]["status"] == "candidate"
            assert candidate["default_version"] == "1"

            assert "blessed v2" in run("training.bless", "2", "--root", str(root))
            assert switch_seconds(client, "2", 30) < POLL_SECONDS + SWITCH_MARGIN
            v2 = client.post("/v2/models/lenet/infer", json=V2_SEVEN).json()
            assert v2["model_version"] == "2"
            assert client.get("/v1/model").json()["blessing"]["by"] == "python -m training.bless"

            assert "revoked v2" in run("training.rollback", "--root", str(root))
            assert switch_seconds(client, "1", 30) < POLL_SECONDS + SWITCH_MARGIN
            revoked = client.get("/v1/model?version=2").json()["blessing"]
            assert revoked["status"] == "revoked"
        answers = traffic.stop()

    assert answers and all(status == 200 for status, _ in answers), set(answers)
    versions = [version for _, version in answers]
    assert "2" in versions and versions[0] == versions[-1] == "1"
    text = log.read_text()
    assert "skipping version 2 as the default: candidate, not blessed" in text
    assert "default version: 2 (was 1)" in text and "default version: 1 (was 2)" in text
