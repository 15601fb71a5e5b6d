"""Cold start and memory per backend: ``python -m service`` from spawn to the first 200 from
``/readyz`` (model loaded and warmed up), and its resident memory then (VmRSS, and the peak
VmHWM from /proc). Starts are one at a time, so they never compete with each other."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import servers


def measure(backend: str, model_root: Path, repeats: int) -> dict[str, Any]:
    """Median of ``repeats`` starts (the first may also pay for a cold page cache)."""
    starts, memory = [], []
    with tempfile.TemporaryDirectory(prefix="bench-coldstart-") as logs:
        for attempt in range(repeats):
            log = Path(logs) / f"{backend}-{attempt}.log"
            began = time.perf_counter()
            process, url = servers.launch(servers.ours(backend, model_root), log)
            try:
                servers.wait_ready(process, url, log, servers.READY_TIMEOUT_S)
                starts.append(time.perf_counter() - began)
                memory.append(servers.process_memory_kib(process.pid))
            finally:
                servers.stop(process)
    return {
        "seconds": round(statistics.median(starts), 3),
        "all_seconds": [round(s, 3) for s in starts],
        "rss_mib": round(statistics.median(m["VmRSS"] for m in memory) / 1024, 1),
        "peak_rss_mib": round(max(m["VmHWM"] for m in memory) / 1024, 1),
    }
