"""``python -m bench``: run every part, write the results as JSON and docs/benchmarks.md.

``python -m bench`` (``make bench``) is the full run, about 20–25 minutes on 2 cores;
``python -m bench --quick --out /tmp/bench.json`` is the seconds-long smoke that CI runs: every
code path, tiny durations, and it never writes docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench import baseline, coldstart, http_load, machine, markdown, modeldir, serving, targets
from bench.http_load import WrkMissing
from model.artifacts import ModelRootSettings

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("http", "stages", "model", "training", "coldstart", "photos")
SUBPROCESS_TIMEOUT_S = 900


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run (CI)")
    parser.add_argument(
        "--duration", type=float, help="seconds per HTTP cell, over its rounds (10; quick 2)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="rounds each HTTP cell's seconds are split into, every other one in reverse order",
    )
    parser.add_argument("--connections", help="comma-separated (1,8,64; quick 1,8)")
    parser.add_argument(
        "--backends", help="our backends to measure (tensorflow,numpy,onnx; quick numpy)"
    )
    parser.add_argument(
        "--workers", default="1,2", help="uvicorn worker counts for ours (onnx) and the ceiling"
    )
    parser.add_argument("--parts", default=",".join(PARTS), help="any of " + ",".join(PARTS))
    parser.add_argument(
        "--bodies",
        default=",".join(serving.BODY_NAMES),
        help="the HTTP part's bodies, any of " + ",".join(serving.BODY_NAMES),
    )
    parser.add_argument("--no-naive", action="store_true", help="leave out the naive service")
    parser.add_argument(
        "--model-root",
        type=Path,
        default=ModelRootSettings().model_root,
        help="the model repository measured (default: $LENET_MODEL_ROOT, else artifacts/lenet)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("MNIST_DIR") or "../shared/data/mnist"),
        help="MNIST IDX files for the training part (random digits if absent) and the photos "
        "part (tests/data/mnist-test-sample.npz if absent)",
    )
    parser.add_argument(
        "--baseline",
        default=baseline.DEFAULT,
        help="git revision of the previous code, measured beside ours in the http and photos "
        f"parts ({baseline.DEFAULT}: the code before issue 11's photo pipeline)",
    )
    parser.add_argument("--out", type=Path, help="results JSON (bench/results.json; quick none)")
    parser.add_argument(
        "--markdown", type=Path, help="the report (docs/benchmarks.md; quick: not written)"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.duration = args.duration or (2.0 if quick else 10.0)
    args.warmup = 0.0 if quick else 2.0
    args.connections = [
        int(c) for c in (args.connections or ("1,8" if quick else "1,8,64")).split(",")
    ]
    args.backends = (args.backends or ("numpy" if quick else "tensorflow,numpy,onnx")).split(",")
    args.workers = [int(w) for w in args.workers.split(",")]
    args.parts = args.parts.split(",")
    args.bodies = args.bodies.split(",")
    unknown = set(args.bodies) - set(serving.BODY_NAMES)
    if unknown:
        parser.error(f"no such bodies: {', '.join(sorted(unknown))}")
    if not quick:
        args.out = args.out or Path("bench/results.json")
        args.markdown = args.markdown or Path("docs/benchmarks.md")
    return args


def say(message: str) -> None:
    print(message, flush=True)


def run_json(module: str, arguments: list[str], env: dict[str, str] | None = None) -> Any:
    """Run ``python -m module`` in its own process and read the JSON document it prints."""
    done = subprocess.run(
        [sys.executable, "-m", module, *arguments],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def http_part(args: argparse.Namespace, model: modeldir.ModelDir) -> dict[str, Any]:
    """Every server over HTTP (and our ONNX server over gRPC), the previous code's service
    among them when git has it."""
    with ExitStack() as stack:
        try:
            tree: Path | None = stack.enter_context(baseline.exported(args.baseline))
            previous = {"revision": args.baseline, "commit": baseline.commit(args.baseline)}
        except baseline.Unavailable as exc:
            tree, previous = None, {"skipped": f"no previous code to compare with: {exc}"}
            say(f"  {previous['skipped']}")
        result = serving.run(
            model,
            backends=args.backends,
            bodies=[b for b in serving.BODY_NAMES if b in args.bodies],
            connections=args.connections,
            duration_s=args.duration,
            warmup_s=args.warmup,
            rounds_each=args.rounds,
            naive=not args.no_naive,
            workers=tuple(args.workers),
            previous=tree,
            progress=say,
        )
    return result | {"previous": previous}


def stages_part(args: argparse.Namespace, model: modeldir.ModelDir) -> dict[str, Any]:
    """Each stage of a predict request, timed in one process, for each backend and body."""
    arguments = ["--model-root", str(model.root), "--backends", ",".join(args.backends)]
    rounds = 200 if args.quick else 2000
    result: dict[str, Any] = {
        "rounds": rounds,
        "backends": run_json("bench.stages", [*arguments, "--rounds", str(rounds)]),
    }
    for backend, bodies in result["backends"].items():
        for body, stages in bodies.items():
            say(
                f"  {backend:10} {body:4} whole app {stages['whole app']:7.1f} µs, "
                f"ceiling app {stages['ceiling app']:7.1f} µs"
            )
    return result


def model_part(args: argparse.Namespace, model: modeldir.ModelDir) -> dict[str, Any]:
    """Our backends, the bare onnxruntime session and the GEMM rate, in one process."""
    backends = [*args.backends, "onnx"] if "onnx" not in args.backends else args.backends
    common = ["--version-dir", str(model.version_dir)]
    if args.quick:
        common += [
            "--batches",
            "1,32",
            "--seconds",
            "0.2",
            "--rounds",
            "1",
            "--gemm-seconds",
            "0.4",
        ]
    result: dict[str, Any] = run_json(
        "bench.throughput", [*common, "--backends", ",".join(backends)]
    )
    gemm = max(result["gemm"].values(), key=lambda g: g["macs_per_s"])
    macs = modeldir.multiply_adds(model.version_dir)
    result["macs_per_image"] = macs
    result["gemm_macs_per_s"] = gemm["macs_per_s"]
    result["limit_images_per_s"] = round(gemm["macs_per_s"] / macs)
    for batches in result["candidates"].values():
        for cell in batches.values():
            cell["fraction_of_limit"] = round(
                cell["images_per_s"] / result["limit_images_per_s"], 4
            )
    for name in result["candidates"]:
        say(
            f"  {name:34} "
            + "  ".join(
                f"b{b}: {c['images_per_s']:9.0f} img/s"
                for b, c in result["candidates"][name].items()
            )
        )
    return result


def training_part(args: argparse.Namespace, model: modeldir.ModelDir) -> list[dict[str, Any]]:
    """Both backends on the lecture recipe (the same work for both) and on "best" (the job's
    default: TensorFlow adds augmentation, which the NumPy library lacks)."""
    if args.quick:
        cells = [("numpy", "lecture")]
        sizes = ["--limit", "2400", "--epochs", "2"]
    else:
        cells = [(b, r) for r in ("lecture", "best") for b in ("tensorflow", "numpy")]
        sizes = ["--limit", "15000", "--epochs", "4"]
    rows = []
    for backend, recipe in cells:
        env = {"OPENBLAS_NUM_THREADS": "1"} if backend == "numpy" else {}
        arguments = ["--backend", backend, "--recipe", recipe, "--data-dir", str(args.data_dir)]
        rows.append(run_json("bench.training_speed", [*arguments, *sizes], env=env))
        say(f"  {backend:10} {recipe:8} {rows[-1]['seconds_per_epoch']:7.2f} s/epoch")
    return rows


def coldstart_part(args: argparse.Namespace, model: modeldir.ModelDir) -> dict[str, Any]:
    repeats = 1 if args.quick else 3
    starts = {}
    for backend in args.backends:
        starts[backend] = coldstart.measure(backend, model.root, repeats)
        say(
            f"  {backend:10} {starts[backend]['seconds']:6.2f} s to ready, "
            f"{starts[backend]['rss_mib']:7.1f} MiB resident"
        )
    return starts


def photos_part(args: argparse.Namespace, model: modeldir.ModelDir) -> dict[str, Any]:
    """Decode and normalise phone-sized JPEGs, the current code beside the previous."""
    arguments = ["--baseline", args.baseline, "--data-dir", str(args.data_dir)]
    sizes = ["--photos", "8", "--rounds", "2"] if args.quick else ["--photos", "60"]
    result: dict[str, Any] = run_json("bench.photos", [*arguments, *sizes])
    if "skipped" in result:
        say(f"  skipped: {result['skipped']}")
        return result
    for name in ("current", "previous"):
        say(
            f"  {name:10} median {result[name]['median_ms']:6.2f} ms, "
            f"p90 {result[name]['p90_ms']:6.2f} ms per photo"
        )
    say(f"  current ÷ previous {result['ratio_median']:.2f}× (median ms)")
    return result


PART_RUNNERS: dict[str, Callable[[argparse.Namespace, modeldir.ModelDir], Any]] = {
    "http": http_part,
    "stages": stages_part,
    "model": model_part,
    "training": training_part,
    "coldstart": coldstart_part,
    "photos": photos_part,
}
RESULT_KEYS = {
    "http": "http",
    "stages": "stages",
    "model": "throughput",
    "training": "training",
    "coldstart": "coldstart",
    "photos": "photos",
}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if "http" in args.parts:
        try:
            http_load.wrk_version()
        except WrkMissing as missing:
            say(f"{missing}; or leave out the HTTP part (--parts)")
            return 2
    started = time.perf_counter()
    results: dict[str, Any] = {"quick": args.quick, "machine": machine.describe()}
    failed = []
    with tempfile.TemporaryDirectory(prefix="bench-model-") as scratch:
        model = modeldir.prepare(args.model_root, Path(scratch))
        results["model"] = model.describe()
        results["settings"] = {
            "duration_s": args.duration,
            "rounds": args.rounds,
            "connections": args.connections,
            "backends": args.backends,
            "workers": args.workers,
            "bodies": args.bodies,
            "parts": args.parts,
        }
        for part in args.parts:
            say(f"{part} (load average {machine.load_average()})")
            part_started = time.perf_counter()
            try:
                results[RESULT_KEYS[part]] = PART_RUNNERS[part](args, model)
            except Exception as exc:
                traceback.print_exc()
                results[RESULT_KEYS[part]] = {"error": f"{type(exc).__name__}: {exc}"}
                failed.append(part)
            results.setdefault("part_seconds", {})[part] = round(
                time.perf_counter() - part_started, 1
            )
    results["machine"]["load_average_end"] = machine.load_average()
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["targets"] = targets.evaluate(results)
    page = markdown.render(results)
    if failed:  # a part's error in place of its tables would replace the last full report
        say(page)
        kept = [str(path) for path in (args.out, args.markdown) if path]
        if kept:
            say(f"{' and '.join(kept)} left as they were: a part failed")
    else:
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1) + "\n")
            say(f"wrote {args.out}")
        if args.markdown:
            markdown.write(args.markdown, page)
            say(f"wrote {args.markdown}")
        if args.quick or not args.markdown:
            say(page)
    say(
        f"done in {results['seconds']:.0f} s" + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
