"""Results → docs/benchmarks.md: the machine, the targets, one table per part.

Everything is generated except the block between ``ANALYSIS_START`` and ``ANALYSIS_END``,
which holds what a person concluded (profiles, causes) and is carried over from the file
being replaced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.rounds import SPREAD
from bench.targets import (
    bodies_of,
    ceiling_for,
    http_cell,
    plural,
    previous_pairs,
    workers_of,
)

ANALYSIS_START = "<!-- analysis: kept by `python -m bench` when it rewrites this file -->"
ANALYSIS_END = "<!-- end of analysis -->"
PLACEHOLDER = "(Write what the numbers mean here: profiles, causes of the gaps.)"


def write(path: Path, page: str) -> None:
    """Write ``page`` (what ``render`` made), keeping the analysis block of the file it replaces."""
    analysis = PLACEHOLDER
    if path.exists():
        old = path.read_text()
        if ANALYSIS_START in old and ANALYSIS_END in old:
            analysis = old.split(ANALYSIS_START, 1)[1].split(ANALYSIS_END, 1)[0].strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page.replace(PLACEHOLDER, analysis))


def render(results: dict[str, Any]) -> str:
    parts = [
        _header(results),
        _targets(results.get("targets", [])),
        _http(results.get("http")),
        _stages(results.get("stages")),
        _throughput(results.get("throughput")),
        _training(results.get("training")),
        _coldstart(results.get("coldstart"), results.get("http")),
        _photos(results.get("photos")),
        f"## Analysis\n\n{ANALYSIS_START}\n{PLACEHOLDER}\n{ANALYSIS_END}\n",
    ]
    return "\n".join(part for part in parts if part)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _num(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _x(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _header(results: dict[str, Any]) -> str:
    m = results["machine"]
    model = results.get("model", {})
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    mode = " (quick smoke: not representative)" if results.get("quick") else ""
    built = "; ONNX graphs built by the harness" if model.get("onnx_built_by_bench") else ""
    about_model = (
        f"version {model.get('version')} from `{model.get('source')}` (recipe "
        f"{model.get('recipe')}, test accuracy {model.get('test_accuracy')}){built}"
    )
    return f"""# Benchmarks{mode}

Every figure here comes from one run of `make bench` (`.venv/bin/python -m bench`), which
rewrites this file and `bench/results.json` (the raw numbers); only the "Analysis" section is
written by hand and kept across runs. `python -m bench --quick` is the seconds-long smoke CI
runs. The machine is shared and noisy, so absolute figures swing 2–3× between runs: compare
**ratios within one run**, where the candidates were measured side by side.

| machine | |
|---|---|
| date | {m["date"]} |
| CPU | {m["cpu"]}, {m["cpus"]} logical CPUs ({m["cpus_usable"]} usable) |
| memory | {m["memory_gib"]} GiB |
| load average (1, 5, 15 min) | start {m["load_average_start"]}, end {m.get("load_average_end")} |
| kernel, Python | Linux {m["kernel"]}, Python {m["python"]} |
| libraries | {versions} |
| model | {about_model} |
| run | {results.get("seconds")} s in all; parts {results.get("part_seconds")} |
"""


def _targets(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    body = [
        [
            row["target"] + (f" ({row['backend']})" if row.get("backend") else ""),
            f"{row['measured']:.2f}{row['unit']}",
            row.get("rounds", ""),
            row["limit"],
            "yes" if row["holds"] else "**no**",
        ]
        for row in rows
    ]
    return (
        "## Targets\n\nOur side of each ratio is our best server in that cell (named). Against"
        " the ceiling as one usually\nruns it, one process, it may use uvicorn workers (a"
        " lever the issue lists); the rows marked *both N\nworkers* compare like with like;"
        " against the naive app, one process each;\nagainst the previous code (`--baseline`),"
        " the same backend of ours, one process each.\nThe v2 and metrics rows compare ours-onnx"
        " with itself in the same run: its v2 binary ÷ its\n/v1 JSON req/s, and as shipped ÷"
        " quiet (ours-onnx-quiet: no metrics, no access log) on the JSON body.\n"
        "The rows *N workers (a) over 1 (b)* ask whether workers scale ours as they scale the"
        " ceiling: a is ours on\nN workers ÷ the ceiling on N, b ours in one process ÷ the"
        " ceiling in one, and the row is a ÷ b\n(p99 at most 1: no worse a tail for the"
        " workers; req/s at least 1), each round's own beside it.\n"
        "A req/s ratio is the cells' rounds together (requests over seconds); *per round* is"
        " each round's\nown ratio, the rounds run in turn forwards and backwards (bench/rounds.py)."
        "\n\n" + _table(["target", "measured", "per round", "limit", "holds"], body)
    )


BODY_TITLES = {
    "v2-json": "v2 JSON body: `POST /v2/models/lenet/infer`",
    "v2-binary": "v2 binary body: `POST /v2/models/lenet/infer`, binary tensor data",
    "grpc": "gRPC: `inference.GRPCInferenceService/ModelInfer`",
}
"""Headings of the tables past /v1's ("PNG body", "JSON body")."""
BODY_NOTES = {
    "v2-json": """The example digit's 784 gray levels as FP32 `data` (as in the /v1 JSON body),
`probabilities` and `digit` asked for in JSON. Ratios are ÷ the same server's /v1 JSON run
at the same connections.""",
    "v2-binary": """The image as 3,136 bytes of raw FP32 after the JSON header
(`Inference-Header-Content-Length`), `probabilities` asked for as binary, `digit` in JSON
(where it is checked). Ratios are ÷ the same server's /v1 JSON run at the same connections.""",
    "grpc": """`bench/grpc_load.py`, a process of its own for each run: one `tritonclient.grpc.aio`
client (one HTTP/2 connection) keeps *connections* `ModelInfer` calls in flight for as long
as a wrk run, the image as raw FP32 input, `probabilities` and `digit` asked for; it checks
the digit before it starts the clock; calls that fail or time out (10 s) are errors.
**A Python client costs far more CPU per request than wrk** ("client CPU", all its
threads), and on 2 cores it takes that from the server: these rows are capped by the load
generator, and say what gRPC answers under this client, not how far the server would go.
Ratios are ÷ the same server's /v1 JSON run (wrk) at the same connections.""",
}


def _http(http: dict[str, Any] | None) -> str:
    if not http:
        return ""
    if "error" in http:
        return f"## 1. HTTP\n\nFailed: `{http['error']}`\n"
    rounds = http.get("rounds", 1)
    text = f"""## 1. HTTP and gRPC: one 28×28 digit per request

{http["wrk"]}, one thread, {http["duration_s"]:.0f} s per cell after a warm-up, in {rounds}
rounds of {http["duration_s"] / rounds:.0f} s, every other round in reverse order
(bench/rounds.py); every server is uvicorn (uvloop, httptools) on 127.0.0.1 with the same
uvicorn options, its log level `info` as deployed (so each writes its access log: ours its
JSON lines, the others uvicorn's), one process unless its name ends in *-N*w (N worker
processes), all started together and loaded in turn within each body × connections cell.
Before each body every server that takes it must answer the example digit (a 7) correctly.
Errors are non-2xx answers, socket errors and timeouts (10 s).

Bodies: **png** and **json** to `POST /v1/predict`, every server; **v2-json** and **v2-binary**
to `POST /v2/models/lenet/infer` (the Open Inference Protocol), ours only (the previous code,
the ceiling and the naive app do not speak it); **grpc**, the same protocol's `ModelInfer`
over gRPC, ours-onnx only.

- **ours-*backend***: `python -m service` with `LENET_BACKENDS=["backend"]`, gRPC off
  (`LENET_GRPC_PORT=0`) except for **ours-onnx**, which serves it on a free port for the gRPC
  rows.
- **ours-onnx-quiet**: ours-onnx with `LENET_METRICS=false` and `LENET_ACCESS_LOG=false`, run
  right after it in every cell: ours-onnx ÷ ours-onnx-quiet is what the `/metrics` counting
  and the access log cost a request, lines written included. It serves gRPC too, so that
  the two differ in nothing else (its gRPC rows: what they cost a gRPC call). Never our side
  of a ratio against another server.
- **ours-default**: `python -m service` as configured by default (every backend loaded),
  asked without `?backend=`: what a user who names no backend gets.
- **ceiling**: `bench/ceiling_app.py`, FastAPI's fastest path for the same body: an `async`
  route that reads the body and parses it into a 28×28 array (PNG decoded by Pillow; JSON by
  `request.json()`), then returns a constant shaped like our answer. No normalisation, no
  inference, no thread pool.
- **naive**: `bench/naive_app.py`, what tutorials ship: `keras.models.load_model` and one
  `model.predict` per request inside an `async` route.
- ***server*-2w**: the same with `LENET_WORKERS=2` (ours, the previous code) or `--workers 2`
  (the ceiling). Our workers each listen on a socket of their own on the port (`SO_REUSEPORT`,
  `service/workers.py`), and the kernel hands each new connection to one of them; the
  ceiling's, as uvicorn's `--workers` does it, accept from one socket shared by both.
{_previous_note(http.get("previous"))}
Ratios are ours ÷ theirs in the same cell, against the ceiling with as many worker processes:
req/s above 1 is better, p99 below 1 is better; against the naive app for one process only;
against the previous code, the same backend, in the last table.
"Server CPU" is the server's CPU time (all threads of all its processes, from /proc) during
the run, per request and as a share of one core (200% = both cores, leaving none to wrk);
"context switches" counts its threads' voluntary and involuntary switches, per request.
"Connections per worker" (servers with several) is how many of wrk's connections each
worker held halfway through each round, from /proc: how evenly they were spread.
"""
    for body in bodies_of({"http": http}):
        title = BODY_TITLES.get(body, f"{body.upper()} body")
        note = f"{BODY_NOTES[body]}\n\n" if body in BODY_NOTES else ""
        text += f"\n### {title}\n\n{note}" + _body_table(http, body)
    return text + _against_previous(http)


def _body_table(http: dict[str, Any], body: str) -> str:
    """One body's runs. Against the ceiling and the naive app where they ran it; otherwise
    (v2, gRPC) against the same server's /v1 JSON run."""
    results = {"http": http}
    runs = [run for run in http["runs"] if run["body"] == body]
    against_ceiling = any(run["server"].startswith("ceiling") for run in runs)
    client = any("client_cpu_ms_per_request" in run for run in runs)
    spread = any(SPREAD in run for run in runs)
    header = ["server", "connections", "req/s", "p50 ms", "p99 ms", "errors"]
    if against_ceiling:
        header += ["req/s ÷ ceiling", "p99 ÷ ceiling", "req/s ÷ naive"]
    else:
        header += ["req/s ÷ /v1 JSON", "p99 ÷ /v1 JSON's"]
    header += ["server CPU ms/request", "server CPU %", "context switches/request"]
    if client:
        header += ["client CPU ms/request", "client CPU %"]
    if spread:
        header += ["connections per worker"]
    rows = []
    for count in sorted({run["connections"] for run in runs}):
        naive = http_cell(results, "naive", body, count)
        for run in (run for run in runs if run["connections"] == count):
            ours = run["server"].startswith("ours-")
            row = [
                run["server"],
                count,
                _num(run["rps"]),
                f"{run['p50_ms']:.2f}",
                f"{run['p99_ms']:.2f}",
                run["errors"],
            ]
            if against_ceiling:
                ceiling = http_cell(results, ceiling_for(run["server"]), body, count)
                row += [
                    _x(run["rps"] / ceiling["rps"]) if ours and ceiling else "",
                    _x(run["p99_ms"] / ceiling["p99_ms"]) if ours and ceiling else "",
                    _x(run["rps"] / naive["rps"])
                    if ours and naive and workers_of(run["server"]) == 1
                    else "",
                ]
            else:
                v1 = http_cell(results, run["server"], "json", count)
                row += [
                    _x(run["rps"] / v1["rps"]) if v1 and v1["rps"] else "",
                    _x(run["p99_ms"] / v1["p99_ms"]) if v1 and v1["p99_ms"] else "",
                ]
            row += [
                f"{run['server_cpu_ms_per_request']:.2f}",
                run["server_cpu_percent"],
                run["server_context_switches_per_request"],
            ]
            if client:
                row += [f"{run['client_cpu_ms_per_request']:.2f}", run["client_cpu_percent"]]
            if spread:
                row.append(", ".join("+".join(map(str, look)) for look in run.get(SPREAD, [])))
            rows.append(row)
    return _table(header, rows)


def _previous_note(previous: dict[str, Any] | None) -> str:
    if not previous:
        return ""
    if "skipped" in previous:
        return f"- **previous-*backend***: not measured ({previous['skipped']}).\n"
    return f"""- **previous-*backend***: the code at `{previous["revision"]}` (commit
  {previous["commit"][:12]}, `--baseline`), exported with `git archive` into a scratch folder and
  started from there exactly like ours (same command, `LENET_*` settings and model); it must
  have compiled that folder's `service/app.py` by the time it is ready.
"""


def _against_previous(http: dict[str, Any]) -> str:
    """Ours ÷ the previous code, same backend, one process each, cell by cell."""
    rows = []
    for body in bodies_of({"http": http}):
        for count, ours, previous in previous_pairs({"http": http}, body):
            rows.append(
                [
                    body,
                    count,
                    f"{ours['server']} ÷ {previous['server']}",
                    _num(ours["rps"]),
                    _num(previous["rps"]),
                    _x(ours["rps"] / previous["rps"]) if previous["rps"] else "–",
                    f"{ours['server_cpu_ms_per_request']:.2f}",
                    f"{previous['server_cpu_ms_per_request']:.2f}",
                ]
            )
    if not rows:
        return ""
    return "\n### Against the previous code\n\n" + _table(
        [
            "body",
            "connections",
            "servers",
            "ours req/s",
            "previous req/s",
            "req/s ÷ previous",
            "ours CPU ms/request",
            "previous CPU ms/request",
        ],
        rows,
    )


def _stages(stages: dict[str, Any] | None) -> str:
    if not stages:
        return ""
    if "error" in stages:
        return f"## 2. A request, stage by stage\n\nFailed: `{stages['error']}`\n"
    backends = stages["backends"]
    columns = [(backend, body) for backend, bodies in backends.items() for body in bodies]
    names = list(backends[columns[0][0]][columns[0][1]])
    rows = [[name, *(f"{backends[b][body][name]:.1f}" for b, body in columns)] for name in names]
    return f"""## 2. A request, stage by stage

`bench/stages.py`: one request body at a time through the functions `POST /v1/predict`
calls, each timed alone, then through the whole ASGI app (everything but the HTTP server),
beside the ceiling app on the same body; one process, uvloop, median µs of {stages["rounds"]:,}
calls. "All four in turn" runs them one after another (each then finds colder caches than alone);
"the rest" is the whole app less that: routing, dependencies, the batcher's hand-off,
middleware. The HTTP server's own work (part 1's server CPU per request less the app's time
here) comes on top of both apps alike.

""" + _table(["µs per request", *(f"{b}, {body}" for b, body in columns)], rows)


def _throughput(throughput: dict[str, Any] | None) -> str:
    if not throughput:
        return ""
    if "error" in throughput:
        return f"## 3. Model throughput\n\nFailed: `{throughput['error']}`\n"
    candidates = throughput["candidates"]
    batches = sorted({b for c in candidates.values() for b in c}, key=int)
    rows = []
    for name, cells in candidates.items():
        row = [name]
        for batch in batches:
            cell = cells.get(batch)
            row += [_num(cell["images_per_s"]) if cell else "–"]
        row += [f"{cells[batches[0]]['call_p50_ms']:.3f}" if batches[0] in cells else "–"]
        largest = cells.get(batches[-1])
        row += [f"{100 * largest['fraction_of_limit']:.1f}%" if largest else "–"]
        rows.append(row)
    failures = "".join(
        f"\n- {name} did not load: `{error}`" for name, error in throughput["failures"].items()
    )
    gemm = throughput["gemm_macs_per_s"]
    n = throughput["gemm"]["before"]["n"]
    text = f"""## 3. Model throughput without HTTP

`bench/throughput.py`: each backend through `load_backend(...).predict` of
`service/runtime/backends.py`, as the service calls it, and a bare
`onnxruntime.InferenceSession` with default options on the same `model.onnx`, all in one
process, timed in turns (rounds × candidates) on the example digit repeated to the batch
size; images/s is the batch over the median call. Each backend runs with the threads it
picks for itself: ONNX one operator thread up to batch 8, one per CPU above; NumPy one
OpenBLAS thread, a batch of 128 or more split across one thread per CPU; TensorFlow its
defaults.

The arithmetic limit: LeNet does {throughput["macs_per_image"]:,} multiply-adds per image; this
machine's float32 GEMM rate (NumPy, {n}×{n} matmul, all cores, median call, the better of a
measurement before and one after the candidates) was {gemm / 1e9:.1f} G multiply-adds/s, so at
most {throughput["limit_images_per_s"]:,} images/s.{failures}

"""
    header = [
        "candidate",
        *(f"batch {b} images/s" for b in batches),
        f"batch {batches[0]} ms",
        f"of limit at batch {batches[-1]}",
    ]
    return text + _table(header, rows)


def _training(training: list[dict[str, Any]] | dict[str, Any] | None) -> str:
    if not training:
        return ""
    if isinstance(training, dict):
        return f"## 4. Training\n\nFailed: `{training['error']}`\n"
    rows = [
        [
            row["backend"],
            row["recipe"],
            f"{row['seconds_per_epoch']:.1f}",
            f"{row['images']:,} images ({row['data']})",
            ", ".join(f"{s:.2f}" for s in row["epoch_seconds"]),
            row["openblas_threads"] or "default",
        ]
        for row in training
    ]
    return """## 4. Training: seconds per MNIST epoch

`bench/training_speed.py` runs the job's own fit loops (`training.train.train`,
`training.numpy_train.train_numpy`) on the first images of MNIST and clocks each epoch (its
validation pass included); the first epoch (graph tracing, allocation) is dropped and the
median of the others, scaled to 60,000 images, is the figure. "lecture" is the same
work on both backends; "best" is the job's default, where TensorFlow also augments the images
and NumPy does not.

""" + _table(
        [
            "backend",
            "recipe",
            "s per 60k epoch",
            "measured on",
            "each epoch on the subset, s",
            "OpenBLAS threads",
        ],
        rows,
    )


def _coldstart(coldstart: dict[str, Any] | None, http: dict[str, Any] | None) -> str:
    if not coldstart:
        return ""
    if "error" in coldstart:
        return f"## 5. Cold start\n\nFailed: `{coldstart['error']}`\n"
    after = (http or {}).get("memory_after_load_mib", {})
    rows = [
        [
            backend,
            f"{row['seconds']:.2f}",
            ", ".join(f"{s:.2f}" for s in row["all_seconds"]),
            row["rss_mib"],
            after.get(f"ours-{backend}", {}).get("VmHWM", "–"),
        ]
        for backend, row in coldstart.items()
    ]
    others = ", ".join(
        f"{name} {mem['VmHWM']} MiB"
        for name, mem in after.items()
        if not name.startswith("ours-") or workers_of(name) > 1
    )
    return (
        """## 5. Cold start and memory

`bench/coldstart.py`: `python -m service` with one backend, from spawn to the first 200 from
`/readyz` (model loaded and warmed up), one start at a time; resident memory (VmRSS) at that
moment; peak resident memory (VmHWM) of the HTTP part's server after all its load, summed
over its processes.
"""
        + (
            f"For comparison, peak resident memory after the HTTP load: {others}.\n"
            if others
            else ""
        )
        + "\n"
        + _table(
            [
                "backend",
                "seconds to ready (median)",
                "each start",
                "MiB resident at ready",
                "MiB peak after HTTP load",
            ],
            rows,
        )
    )


def _photos(photos: dict[str, Any] | None) -> str:
    if not photos:
        return ""
    title = "## 6. Photo normalisation: the current code beside the previous"
    if "error" in photos:
        return f"{title}\n\nFailed: `{photos['error']}`\n"
    if "skipped" in photos:
        return f"{title}\n\nSkipped: {photos['skipped']}.\n"
    found = photos["digit_found"]
    rows = [
        [
            name,
            f"{photos[name]['median_ms']:.2f}",
            f"{photos[name]['p90_ms']:.2f}",
            f"{photos[name]['median_cpu_ms']:.2f}",
            f"{found[name]} of {photos['photos']}",
        ]
        for name in ("current", "previous")
    ]
    base = photos["baseline"]
    sizes = ", ".join(photos["sizes"])
    conditions = " and ".join(f'"{c}"' for c in photos["conditions"])
    rounds = plural(photos["rounds"], "round")
    return f"""{title}

`bench/photos.py`: {photos["photos"]} phone-sized JPEGs ({sizes}, {photos["mean_kib"]} KiB on
average), the evaluation set's {conditions} photos (`evaluation.photoset`) of MNIST test
digits from `{photos["digits_from"]}`, re-encoded at that size where they came out another.
Each goes from its bytes to the 28×28 tensor, decode included, through both codes in one
process, in turns that flip order every round ({rounds}); a photo's time is its median over
the rounds. **current**: `images.decode_image(…, at_least=ink.WORKING_SIDE)`
then `photos.read_digit`, as `POST /v1/predict` calls them. **previous**: `{base["file"]}` at
`{base["revision"]}` (commit {base["commit"][:12]}, `--baseline`), read with `git show` and
imported under a private name: `normalize_mnist(to_grayscale(decode_image(…)))`. CPU time
counts all the process's threads (OpenCV used {photos["opencv_threads"]}). "Digit found": a
digit read (current) or a tensor that is not blank (previous).

Current ÷ previous: {photos["ratio_median"]:.2f}× on the medians; the median of each photo's
own ratio is {photos["ratio_per_photo_median"]:.2f}×.

""" + _table(
        [
            "code",
            "median ms per photo",
            "p90 ms per photo",
            "median CPU ms per photo",
            "digit found",
        ],
        rows,
    )
