"""The workers' shared values files as ``/metrics`` reads them, with one a worker has just
created: prometheus-client creates each file empty and only then sizes it, and a worker
killed between the two leaves it empty for good."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from service.observability.exposition import WrittenFilesCollector
from service.observability.metrics import MULTIPROC_DIR
from tests.service.observability.scraping import parse, value

COUNTS = "from prometheus_client import Counter; Counter('lenet_test_total', 'Test.').inc(3)"


@pytest.fixture
def shared(tmp_path):
    """A values directory where one worker counted 3 and two more have created their files
    (a counter's and a live gauge's) without sizing them yet."""
    env = {**os.environ, MULTIPROC_DIR: str(tmp_path)}
    subprocess.run([sys.executable, "-c", COUNTS], env=env, check=True)
    (tmp_path / "counter_999998.db").touch()
    (tmp_path / "gauge_livesum_999999.db").touch()
    return tmp_path


def test_a_scrape_reads_the_sized_files_and_leaves_out_the_empty_ones(shared):
    registry = CollectorRegistry()
    registry.register(WrittenFilesCollector(str(shared)))
    samples = parse(generate_latest(registry).decode())
    assert value(samples, "lenet_test_total") == 3


def test_prometheus_client_alone_still_fails_on_an_empty_file(shared):
    """Why ``WrittenFilesCollector`` exists (prometheus/client_python#1199). Once this
    fails, prometheus-client reads empty files itself and the class can go."""
    with pytest.raises(struct.error):
        list(MultiProcessCollector(None, path=str(shared)).collect())
