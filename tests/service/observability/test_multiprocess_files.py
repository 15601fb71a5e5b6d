"""The workers' shared values files as ``/metrics`` reads them, with one a worker has just
created: prometheus-client creates each file empty and only then sizes it, and a worker
killed between the two leaves it empty for good."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.multiprocess import MultiProcessCollector

from service.observability.exposition import metrics_router, written
from service.observability.metrics import MULTIPROC_DIR
from tests.service.observability.scraping import parse, value

pytestmark = pytest.mark.anyio

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


async def test_a_scrape_reads_the_sized_files_and_leaves_out_the_empty_ones(shared, monkeypatch):
    monkeypatch.setenv(MULTIPROC_DIR, str(shared))  # as python -m service sets it for workers
    app = FastAPI()
    app.include_router(metrics_router())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert value(parse(response.text), "lenet_test_total") == 3


def test_a_file_gone_since_it_was_listed_counts_as_unwritten(tmp_path):
    assert not written(str(tmp_path / "gauge_livesum_999999.db"))


def test_prometheus_client_alone_still_fails_on_an_empty_file(shared):
    """Why ``WrittenFilesCollector`` exists (prometheus/client_python#1199). Once this
    fails, prometheus-client reads empty files itself and the class can go."""
    with pytest.raises(struct.error):
        list(MultiProcessCollector(None, path=str(shared)).collect())
