"""Drive ``wrk`` against one server with one body at one concurrency, and read its figures.

``post.lua`` makes wrk POST the body (with its headers, e.g. the v2 binary body's
``Inference-Header-Content-Length``) and print the run's totals and latency percentiles as one
JSON line from its ``done`` hook, so nothing depends on the layout of wrk's text report. One wrk
thread: on 2 cores the other core is the server's. Non-2xx answers (wrk's status errors),
socket errors and timeouts are all counted as errors.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from bench.bodies import HEADER_LENGTH, Body

SCRIPT = Path(__file__).with_name("post.lua")
MARKER = "BENCH_RESULT "
WRK_TIMEOUT_S = 10
"""A request slower than this is a timeout error; above the naive service's p99 at 64."""


class WrkMissing(RuntimeError):
    """``wrk`` is not on PATH; the message says how to install it."""


def wrk_version() -> str:
    """``wrk --version``'s first line; ``WrkMissing`` without it (a run checks this first,
    rather than fail its HTTP part after the others' minutes)."""
    wrk = _wrk()
    done = subprocess.run([wrk, "--version"], capture_output=True, text=True, timeout=10)
    return (done.stdout + done.stderr).split("Copyright")[0].strip()


def check_answer(url: str, body: Body) -> dict[str, Any]:
    """One request before the load: the server must answer 200 with the right digit, so a
    benchmark never measures fast errors. A v2 answer with binary outputs is read by its
    JSON header, which carries the digit."""
    headers = {"Content-Type": body.content_type, **body.headers}
    request = urllib.request.Request(url, data=body.data, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        data = response.read()
        length = response.headers.get(HEADER_LENGTH)
    answer: dict[str, Any] = json.loads(data[: int(length)] if length else data)
    digit = answer_digit(answer)
    if digit != body.digit:
        raise AssertionError(f"{url} answered digit {digit} for the example {body.digit}")
    if length:
        sizes = [o.get("parameters", {}).get("binary_data_size", 0) for o in answer["outputs"]]
        if len(data) != int(length) + sum(sizes):
            raise AssertionError(f"{url}: {len(data)} bytes, not the header's {length} + {sizes}")
    return answer


def answer_digit(answer: dict[str, Any]) -> Any:
    """/v1's first prediction's digit, or the first element of v2's ``digit`` output."""
    if "outputs" in answer:
        digits = [o["data"][0] for o in answer["outputs"] if o["name"] == "digit" and "data" in o]
        return digits[0] if digits else None
    predictions = answer.get("predictions") or [answer]
    return predictions[0].get("digit")


def run_wrk(url: str, body: Body, connections: int, duration_s: float) -> dict[str, Any]:
    """One wrk run: requests/s, latency percentiles (ms) and error counts."""
    with tempfile.NamedTemporaryFile(suffix=f".{body.name}") as file:
        file.write(body.data)
        file.flush()
        argv = [
            _wrk(),
            "--threads",
            "1",
            "--connections",
            str(connections),
            "--duration",
            f"{whole_seconds(duration_s)}s",
            "--timeout",
            f"{WRK_TIMEOUT_S}s",
            "--script",
            str(SCRIPT),
            url,
        ]
        env = {
            **os.environ,
            "BENCH_BODY": file.name,
            "BENCH_CONTENT_TYPE": body.content_type,
            "BENCH_HEADERS": "\n".join(f"{name}: {value}" for name, value in body.headers.items()),
        }
        done = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=duration_s + WRK_TIMEOUT_S + 30
        )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return summarise(parse(done.stdout))


def whole_seconds(duration_s: float) -> int:
    """How long a run lasts: wrk takes whole seconds, at least one."""
    return max(round(duration_s), 1)


def parse(stdout: str) -> dict[str, float]:
    """The JSON line ``post.lua`` prints."""
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            figures: dict[str, float] = json.loads(line[len(MARKER) :])
            return figures
    raise RuntimeError(f"wrk printed no {MARKER.strip()} line:\n{stdout}")


def summarise(raw: dict[str, float]) -> dict[str, Any]:
    """Figures in wrk's shape (``bench.grpc_load`` reports the same keys; error kinds it does
    not have are absent and count 0)."""
    seconds = raw["duration_us"] / 1e6
    errors = sum(
        int(raw.get(key, 0))
        for key in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    return {
        "requests": int(raw["requests"]),
        "seconds": round(seconds, 3),
        "rps": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "mean_ms": round(raw["mean_us"] / 1000, 3),
        "errors": errors,
        "raw": raw,
    }


def _wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise WrkMissing("wrk is not installed: sudo apt-get install -y wrk (Debian, Ubuntu)")
    return wrk
