"""The explainer shared by a version's requests: concurrent calls get what they get alone."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from model import artifacts
from model.spec import network_input
from service.runtime.explaining import Explainer
from tests.bundled import VERSION

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "mnist-test-sample.npz"


def test_concurrent_explanations_do_not_mix():
    explainer = Explainer(VERSION / artifacts.WEIGHTS_FILE)
    with np.load(SAMPLE) as sample:
        images = network_input(sample["images"][:16])
    jobs = [(images[i : i + 1], [i % 10]) for i in range(len(images))]
    alone = [explainer.explain(*job).gradient for job in jobs]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda job: explainer.explain(*job).gradient, jobs * 4))
    for index, gradient in enumerate(together):
        np.testing.assert_array_equal(gradient, alone[index % len(jobs)])
