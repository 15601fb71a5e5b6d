"""Model throughput without HTTP: each backend through our ``load_backend`` interface, a bare
onnxruntime session on the same ``model.onnx``, and this machine's float32 GEMM rate.

Candidates are timed in turns (rounds × candidates, per batch size), so a burst of load from
another job hits them all alike; images/s is the batch over the median call time. The GEMM rate
(an n×n by n×n float32 matmul with NumPy, all cores) is the arithmetic limit: at LeNet's
multiply-adds per image it bounds images/s, and each backend's fraction of it is reported.

Run as its own process (``python -m bench.throughput``), so TensorFlow's and OpenBLAS's
thread pools start as the environment given to it says; it prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from model import artifacts
from model.spec import network_input
from service.api.examples import EXAMPLE_ARRAY

Predict = Callable[[np.ndarray], np.ndarray]
BARE_ORT = "onnxruntime-bare"
GEMM_N = 1024


def images(batch: int) -> np.ndarray:
    """(batch, 28, 28, 1) float32 in [0, 1]: the example digit, repeated."""
    digit = network_input(np.asarray(EXAMPLE_ARRAY)[None])  # (1, 28, 28, 1)
    return np.ascontiguousarray(np.repeat(digit, batch, axis=0))


def load_candidates(
    version_dir: Path, backends: list[str]
) -> tuple[dict[str, Predict], dict[str, str]]:
    """Our backends as the service loads them, plus the bare session; failures are reported,
    not raised, so one missing package costs one row."""
    from service.runtime.backends import load_backend

    architecture = artifacts.read_json(version_dir / artifacts.ARCHITECTURE_FILE)
    layer_names = [layer["name"] for layer in architecture["layers"]]
    candidates: dict[str, Predict] = {}
    failures: dict[str, str] = {}
    for name in backends:
        try:
            candidates[name] = load_backend(name, version_dir, layer_names).predict
        except Exception as exc:  # a missing package or model file: report it, go on
            failures[name] = f"{type(exc).__name__}: {exc}"
    if "onnx" in backends:
        try:
            candidates[BARE_ORT] = bare_session(version_dir / artifacts.ONNX_FILE)
        except Exception as exc:
            failures[BARE_ORT] = f"{type(exc).__name__}: {exc}"
    return candidates, failures


def bare_session(onnx_file: Path) -> Predict:
    """What a user would write: a default ``InferenceSession`` on the same graph."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {name: x})[0])

    return predict


def time_calls(predict: Predict, x: np.ndarray, seconds: float) -> list[float]:
    """Call until ``seconds`` have passed (at least 3 calls); each call's wall time."""
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < 3 or time.perf_counter() < deadline:
        started = time.perf_counter()
        predict(x)
        times.append(time.perf_counter() - started)
    return times


def throughput(
    candidates: dict[str, Predict], batches: list[int], seconds: float, rounds: int
) -> dict[str, dict[str, Any]]:
    """Per candidate and batch size: images/s (batch / median call) and call latency."""
    results: dict[str, dict[str, Any]] = {name: {} for name in candidates}
    for batch in batches:
        x = images(batch)
        reference = None
        for name, predict in candidates.items():  # warm up, and check they agree
            out = predict(x)
            reference = out if reference is None else reference
            np.testing.assert_allclose(out, reference, atol=1e-4, err_msg=name)
        times: dict[str, list[float]] = {name: [] for name in candidates}
        for _ in range(rounds):
            for name, predict in candidates.items():
                times[name] += time_calls(predict, x, seconds / rounds)
        for name, calls in times.items():
            median = statistics.median(calls)
            results[name][str(batch)] = {
                "images_per_s": round(batch / median, 1),
                "call_p50_ms": round(median * 1000, 4),
                "call_p99_ms": round(float(np.percentile(calls, 99)) * 1000, 4),
                "calls": len(calls),
            }
    return results


def gemm_rate(seconds: float, n: int = GEMM_N) -> dict[str, Any]:
    """float32 multiply-adds per second of an n×n by n×n NumPy matmul (median and best)."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    # All cores, whatever a backend set: the NumPy backend limits OpenBLAS to one thread.
    with threadpool_limits(len(os.sched_getaffinity(0)), user_api="blas"):
        a @ b  # noqa: B018 — warm-up: thread pool start, page faults
        times = time_calls(lambda _: a @ b, a, seconds)
    return {
        "n": n,
        "macs_per_s": round(n**3 / statistics.median(times)),
        "best_macs_per_s": round(n**3 / min(times)),
        "calls": len(times),
    }


def library_versions() -> dict[str, str]:
    import onnxruntime

    versions = {"numpy": np.__version__, "onnxruntime": onnxruntime.__version__}
    config = np.show_config(mode="dicts") or {}
    blas = config.get("Build Dependencies", {}).get("blas", {})
    versions["blas"] = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    if "tensorflow" in sys.modules:
        versions["tensorflow"] = sys.modules["tensorflow"].__version__
    return versions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__)
    parser.add_argument("--version-dir", type=Path, required=True)
    parser.add_argument("--backends", default="tensorflow,numpy,onnx")
    parser.add_argument("--batches", default="1,32,1024")
    parser.add_argument("--seconds", type=float, default=3.0, help="per candidate and batch")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gemm-seconds", type=float, default=3.0)
    args = parser.parse_args(argv)

    candidates, failures = load_candidates(args.version_dir, args.backends.split(","))
    batches = [int(b) for b in args.batches.split(",")]
    gemm_before = gemm_rate(args.gemm_seconds / 2)
    results = throughput(candidates, batches, args.seconds, args.rounds)
    gemm_after = gemm_rate(args.gemm_seconds / 2)
    json.dump(
        {
            "candidates": results,
            "failures": failures,
            "gemm": {"before": gemm_before, "after": gemm_after},
            "versions": library_versions(),
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
