"""Replicas behind the proxy: the same wrk load through nginx to 1, 2 and 3 API replicas
(docker-compose.yml's "scale" profile), back to back in one run, and how close to linear it is.

``python -m bench.replicas`` brings the profile up under a project name of its own and scales
the api service to each count in turn: 1, 2, 3, then 3, 2, 1 (every other round reversed, as
``bench.rounds`` does, so that a drifting background load reaches every count alike). Once the
proxy lists exactly the replicas running, wrk (``bench/post.lua``) loads it for the cell's share
of the seconds, after a short warm-up; at one replica it also loads that replica directly, which
shows what the proxy costs. For each cell: req/s, latency, errors, and the CPU time of the
replicas, the proxy, wrk and the whole machine (others' work included) over the cell. On each
scale-up: the new replica's cold start, container start to its first 200 from ``/readyz``.
Resident memory of each replica's process and of the proxy's container. Then a capacity plan:
cores for 1k, 10k and 100k req/s from ``make bench``'s CPU time per request
(bench/results.json) and the proxy's measured here (``plan``). It prints the report
in markdown (``--markdown`` writes it to a file too), writes the figures as JSON with
``--out``, and takes everything down, pass or fail. Needs docker with compose and wrk; the
images are built first (seconds when cached), but for an api image named with ``--image``.

wrk talks to the containers' addresses on the compose network, not to published ports: Docker's
userland proxy would put one more process, copying every byte, into the measurement.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import http_load, machine, rounds, servers
from bench.bodies import BODIES, Body

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 300.0
LISTED_TIMEOUT_S = 60.0
WARMUP_S = 2.0
PROXY_LOG_LINE = re.compile(r"^upstreams: ready: (.*)$", re.M)
"""What deploy/nginx/upstreams.py logs each time it writes the proxy's list of replicas."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__)
    parser.add_argument("--replicas", default="1,2,3", help="replica counts, in order (1,2,3)")
    parser.add_argument("--body", default="json", choices=sorted(BODIES), help="(json)")
    parser.add_argument("--connections", type=int, default=64, help="wrk's connections (64)")
    parser.add_argument(
        "--duration", type=float, default=20.0, help="seconds per cell, over its rounds (20)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="every other one reversed (2)")
    parser.add_argument("--image", help="the api's image (compose's: lenet-serve:latest)")
    parser.add_argument("--backends", help='LENET_BACKENDS, e.g. \'["onnx","numpy"]\' for slim')
    parser.add_argument(
        "--bench-results",
        type=Path,
        default=ROOT / "bench" / "results.json",
        help="make bench's figures, for the plan (bench/results.json)",
    )
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the report here too")
    return parser.parse_args(argv)


def say(message: str) -> None:
    print(f"[replicas] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Stack:
    """docker-compose.yml under one project name with the "scale" profile, as this run sets it."""

    project: str
    env: dict[str, str]

    def compose(self, *args: str, timeout: float = 600) -> str:
        command = ["docker-compose"] if shutil.which("docker-compose") else ["docker", "compose"]
        argv = [*command, "-p", self.project, "--profile", "scale", *args]
        done = subprocess.run(
            argv, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def containers(self, service: str) -> list[str]:
        """Full IDs of the service's running containers."""
        short = self.compose("ps", "-q", service, timeout=120).split()
        return [docker("inspect", "-f", "{{.Id}}", c).strip() for c in short]


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def address(container: str) -> str:
    """The container's address on the compose network (it is on that one only)."""
    return docker(
        "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container
    ).strip()


def started_at(container: str) -> float:
    """When the container last started, as a Unix time (Docker gives nanoseconds, RFC 3339)."""
    stamp = docker("inspect", "-f", "{{.State.StartedAt}}", container).strip().rstrip("Z")
    whole, _, fraction = stamp.partition(".")
    start = datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.UTC)
    return start.timestamp() + float(f"0.{fraction or 0}")


def is_ready(host: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:8000/readyz", timeout=1):
            return True
    except OSError:
        return False


def wait_ready(containers: list[str]) -> dict[str, float]:
    """Each container's cold start: seconds from its start to the first 200 from /readyz."""
    hosts = {c: address(c) for c in containers}
    cold: dict[str, float] = {}
    deadline = time.monotonic() + READY_TIMEOUT_S
    while len(cold) < len(containers):
        for container, host in hosts.items():
            if container not in cold and is_ready(host):
                cold[container] = round(time.time() - started_at(container), 2)
        if time.monotonic() > deadline:
            raise TimeoutError(f"replicas not ready after {READY_TIMEOUT_S:.0f} s")
        time.sleep(0.1)
    return cold


def proxy_lists(proxy: str) -> set[str]:
    """The replicas the proxy sends to now: its supervisor's last list."""
    done = subprocess.run(["docker", "logs", proxy], capture_output=True, text=True, timeout=60)
    lists = PROXY_LOG_LINE.findall(done.stderr + done.stdout)
    return {a.strip() for a in lists[-1].split(",")} if lists else set()


def scale_to(stack: Stack, count: int) -> tuple[list[str], str, dict[str, float]]:
    """``up --scale api=count``; returns the replicas, the proxy and the new replicas' cold
    starts, once every replica is ready and the proxy lists exactly them."""
    before = set(stack.containers("api"))
    stack.compose("up", "-d", "--scale", f"api={count}")
    replicas = stack.containers("api")
    (proxy,) = stack.containers("proxy")
    if len(replicas) != count:
        raise RuntimeError(f"{len(replicas)} api containers, not {count}")
    cold = wait_ready([c for c in replicas if c not in before])
    wait_ready(replicas)
    wanted = {address(c) for c in replicas}
    deadline = time.monotonic() + LISTED_TIMEOUT_S
    while proxy_lists(proxy) != wanted:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the proxy lists {proxy_lists(proxy)}, not {wanted}")
        time.sleep(0.2)
    return replicas, proxy, cold


def cgroup(container: str, controller: str) -> Path | None:
    """The container's cgroup folder for ``controller`` (cpuacct, memory): cgroup v1 with the
    cgroupfs driver (this machine's), else v2 with systemd's, where one folder has them all."""
    for folder in (
        Path(f"/sys/fs/cgroup/{controller}/docker/{container}"),
        Path(f"/sys/fs/cgroup/system.slice/docker-{container}.scope"),
    ):
        if folder.is_dir():
            return folder
    return None


def container_cpu_seconds(container: str) -> float | None:
    folder = cgroup(container, "cpuacct")
    if folder is None:
        return None
    if (folder / "cpuacct.usage").exists():
        return int((folder / "cpuacct.usage").read_text()) / 1e9
    for line in (folder / "cpu.stat").read_text().splitlines():
        if line.startswith("usage_usec"):
            return int(line.split()[1]) / 1e6
    return None


def container_rss_mib(container: str) -> float | None:
    """VmRSS summed over the container's processes: what each has in RAM, the shared
    libraries' pages included (counted in each process)."""
    folder = cgroup(container, "cpuacct")
    if folder is None:
        return None
    total = 0
    for pid in (folder / "cgroup.procs").read_text().split():
        try:
            total += servers.process_memory_kib(int(pid)).get("VmRSS", 0)
        except FileNotFoundError:  # exited meanwhile
            continue
    return round(total / 1024, 1)


def container_memory_mib(container: str) -> float | None:
    """The cgroup's memory less its inactive file cache, as ``docker stats`` shows it: what
    the container's memory limit holds it to."""
    folder = cgroup(container, "memory")
    if folder is None:
        return None
    usage = folder / "memory.usage_in_bytes"
    used = int((usage if usage.exists() else folder / "memory.current").read_text())
    stat = dict(line.split() for line in (folder / "memory.stat").read_text().splitlines())
    inactive = int(stat.get("total_inactive_file", stat.get("inactive_file", 0)))
    return round((used - inactive) / 2**20, 1)


def machine_busy_seconds() -> float:
    """CPU time all processes spent, from /proc/stat's first line (idle and iowait left out)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """CPU time of the waited-for children: wrk's, read around its run."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def cpu_over(groups: dict[str, list[str]], into: dict[str, Any]) -> Iterator[None]:
    """CPU seconds each group of containers, wrk and the machine spend inside the block."""

    def now() -> dict[str, float | None]:
        found: dict[str, float | None] = {"wrk": children_cpu_seconds()}
        found["machine"] = machine_busy_seconds()
        for group, containers in groups.items():
            seconds = [container_cpu_seconds(c) for c in containers]
            found[group] = None if None in seconds else sum(s for s in seconds if s is not None)
        return found

    before = now()
    yield
    after = now()
    for key, value in after.items():
        start = before[key]
        into[f"{key}_cpu_s"] = None if value is None or start is None else round(value - start, 3)


def load(
    host: str,
    label: str,
    count: int,
    body: Body,
    args: argparse.Namespace,
    seconds: float,
    groups: dict[str, list[str]],
) -> dict[str, Any]:
    """One cell's round: check the answer, warm up, then wrk with the CPU counted around it."""
    url = f"http://{host}:8000{body.path}"
    http_load.check_answer(url, body)
    http_load.run_wrk(url, body, args.connections, WARMUP_S)
    cell: dict[str, Any] = {"server": label, "body": body.name, "connections": args.connections}
    cell["replicas"] = count
    with cpu_over(groups, cell):
        cell |= http_load.run_wrk(url, body, args.connections, seconds)
    cell.pop("raw")
    return cell


def measure(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    counts = [int(n) for n in args.replicas.split(",")]
    body = BODIES[args.body]
    seconds = args.duration / args.rounds
    runs: list[dict[str, Any]] = []
    cold: list[dict[str, Any]] = []
    memory: dict[str, Any] = {}
    for round_index in range(args.rounds):
        for count in rounds.in_order(counts, round_index):
            say(f"round {round_index + 1}: {count} replica(s)")
            replicas, proxy, started = scale_to(stack, count)
            cold += [{"replicas": count, "seconds": s} for s in started.values()]
            groups = {"replicas": replicas, "proxy": [proxy]}
            paths = [("proxy", address(proxy))]
            if count == 1:
                paths.append(("direct", address(replicas[0])))
            for path, host in rounds.in_order(paths, round_index):
                label = f"{count} direct" if path == "direct" else f"{count} behind the proxy"
                runs.append(load(host, label, count, body, args, seconds, groups))
                say(f"{label}: {runs[-1]['rps']:.0f} req/s, p99 {runs[-1]['p99_ms']:.1f} ms")
            memory[str(count)] = {
                "replica_rss_mib": [container_rss_mib(c) for c in replicas],
                "replica_container_mib": [container_memory_mib(c) for c in replicas],
                "proxy_rss_mib": container_rss_mib(proxy),
                "proxy_container_mib": container_memory_mib(proxy),
            }
    cells = rounds.merge(runs)
    for cell in cells:
        mine = [r for r in runs if r["server"] == cell["server"]]
        for key in ("replicas", "proxy", "wrk", "machine"):
            values = [r[f"{key}_cpu_s"] for r in mine]
            if None in values:
                continue
            cell[f"{key}_cpu_percent"] = round(100 * sum(values) / cell["seconds"])
            ms = 1000 * sum(values) / max(cell["requests"], 1)
            cell[f"{key}_cpu_ms_per_request"] = round(ms, 3)
        cell["replicas"] = mine[0]["replicas"]
    return {"cells": cells, "cold_start": cold, "memory": memory}


def report(results: dict[str, Any]) -> str:
    """The markdown: what ran, the table, cold starts and memory, then the plan."""
    info, settings = results["machine"], results["settings"]
    cells = results["cells"]
    one = next(c for c in cells if c["server"] == "1 behind the proxy")
    lines = [
        "| replicas | path | req/s | ÷ 1 replica behind the proxy | of linear | p50 ms | p99 ms |"
        " errors | replicas' CPU ms/request | proxy's CPU ms/request | req/s per core used |"
        " CPU %: replicas, proxy, wrk, machine | req/s by round |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cell in sorted(cells, key=lambda c: (c["replicas"], c["server"])):
        speedup = cell["rps"] / one["rps"]
        of_linear = speedup / cell["replicas"] if "proxy" in cell["server"] else None
        cpu = [cell.get(f"{k}_cpu_percent") for k in ("replicas", "proxy", "wrk", "machine")]
        per_request = [cell.get(f"{k}_cpu_ms_per_request") for k in ("replicas", "proxy")]
        lines.append(
            f"| {cell['replicas']} | {cell['server'].split(' ', 1)[1]} | {cell['rps']:,.0f} |"
            f" {speedup:.2f}× | {'' if of_linear is None else f'{of_linear:.0%}'} |"
            f" {cell['p50_ms']:.2f} | {cell['p99_ms']:.2f} | {cell['errors']} |"
            + "".join(f" {'' if ms is None else f'{ms:.3f}'} |" for ms in per_request)
            + f" {per_core_used(per_request)} |"
            + f" {', '.join('?' if c is None else str(c) for c in cpu)} |"
            f" {', '.join(f'{r:,.0f}' for r in cell['round_rps'])} |"
        )
    cold = sorted(c["seconds"] for c in results["cold_start"])
    memory = results["memory"]

    def spread(key: str) -> str:
        """The least and most of ``key`` over the counts (one figure, or one a replica)."""
        found = []
        for figures in memory.values():
            value = figures[key]
            found += [m for m in (value if isinstance(value, list) else [value]) if m]
        return f"{min(found):.0f}–{max(found):.0f}" if found else "?"

    page = [
        f"`{' '.join(['python -m bench.replicas', settings['argv']]).strip()}`"
        + f" ({settings['build']}),",
        f"on {info['cpu']}, {info['cpus_usable']} CPUs usable, {info['date']}; load average"
        f" {info['load_average_start']} at the start, {results['load_average_end']} at the"
        f" end. Image {settings['image']}, backends {settings['backends']}; body"
        f" {settings['body']}, {settings['connections']} connections, {settings['duration']:g}"
        f" s per cell in {settings['rounds']} rounds (counts {settings['order']}), after a"
        f" {WARMUP_S:g} s warm-up each; {results['wrk']}. CPU time over the cell, from the"
        " containers' cgroups, wrk's rusage and /proc/stat (the machine: everything on it,"
        " others' work included); 100 % is one core.",
        "",
        *lines,
        "",
        f"Cold start, container start to /readyz 200: {', '.join(f'{s:.1f}' for s in cold)} s."
        f" Memory after the load: each replica's process {spread('replica_rss_mib')} MiB"
        f" resident (VmRSS), its container {spread('replica_container_mib')} MiB (the cgroup's,"
        " less inactive file cache, as `docker stats` shows it); the proxy's container"
        f" {spread('proxy_rss_mib')} MiB resident in all its processes (nginx's master and"
        f" workers, its supervisor, tini), {spread('proxy_container_mib')} MiB in its cgroup.",
    ]
    if results.get("plan"):
        page += ["", plan_report(results["plan"])]
    return "\n".join(page)


def per_core_used(per_request: list[float | None]) -> str:
    """Requests per CPU-second that the replicas and the proxy spent together: what one core
    serves at this efficiency, however many cores the stack was given."""
    if None in per_request:
        return ""
    return f"{1000 / sum(ms for ms in per_request if ms is not None):,.0f}"


PLAN_RATES = (1_000, 10_000, 100_000)
HEADROOM = 0.65
"""Each core is planned at this share of the rate it saturates at, so that queues stay short."""
PLAN_CONNECTIONS = 8
"""``make bench``'s cells at 8 requests in flight: one core saturated, p99 still a few ms."""


def plan(bench_results: dict[str, Any], proxy_ms: float) -> dict[str, Any]:
    """Cores for each rate from ``make bench``'s CPU time per request (bench/results.json),
    one replica a core (one process), planned at ``HEADROOM`` of saturation, plus a spare
    replica for every ten (at least one, so that one may stop); and the proxy's cores from its
    CPU time per request here, planned the same way."""
    rows = []
    for run in bench_results["http"]["runs"]:
        backend = run["server"].removeprefix("ours-")
        if backend not in ("tensorflow", "numpy", "onnx") or run["body"] not in BODIES:
            continue
        if run["connections"] != PLAN_CONNECTIONS:
            continue
        per_core = 1000 / run["server_cpu_ms_per_request"]
        replicas = [math.ceil(rate / (per_core * HEADROOM)) for rate in PLAN_RATES]
        rows.append(
            {
                "backend": backend,
                "body": run["body"],
                "cpu_ms_per_request": run["server_cpu_ms_per_request"],
                "per_core_rps": round(per_core),
                "p99_ms": run["p99_ms"],
                "replicas": [n + max(1, math.ceil(n / 10)) for n in replicas],
            }
        )
    proxy = [math.ceil(rate * proxy_ms / 1000 / HEADROOM) for rate in PLAN_RATES]
    return {
        "from": f"bench/results.json ({bench_results['machine']['date']})",
        "headroom": HEADROOM,
        "connections": PLAN_CONNECTIONS,
        "rows": rows,
        "proxy_cpu_ms_per_request": proxy_ms,
        "proxy_cores": proxy,
    }


def plan_report(planned: dict[str, Any]) -> str:
    rates = " | ".join(f"replicas (cores) for {rate:,} req/s" for rate in PLAN_RATES)
    lines = [
        f"Plan: `make bench`'s server CPU per request at {planned['connections']} in flight"
        f" ({planned['from']}), one replica a core, each planned at"
        f" {planned['headroom']:.0%} of its saturated rate, plus one spare replica per ten"
        f" (at least one); the proxy at {planned['proxy_cpu_ms_per_request']:.3f} CPU ms a"
        " request (above, one replica), planned the same way.",
        "",
        f"| backend | body | CPU ms/request | req/s per core | p99 ms there | {rates} |",
        "|---|---|---|---|---|" + "---|" * len(PLAN_RATES),
    ]
    for row in sorted(planned["rows"], key=lambda r: (r["backend"] != "onnx", r["backend"])):
        lines.append(
            f"| {row['backend']} | {row['body']} | {row['cpu_ms_per_request']:.2f} |"
            f" {row['per_core_rps']:,} | {row['p99_ms']:.1f} |"
            + "".join(f" {n:,} |" for n in row["replicas"])
        )
    lines.append(
        "| proxy (nginx) | any | | | |" + "".join(f" {n:,} |" for n in planned["proxy_cores"])
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = http_load.wrk_version()  # fails early, with how to install it, when missing
    env = dict(os.environ)
    env |= {"API_HOST": "127.0.0.1", "API_PORT": "", "GRPC_PORT": "", "PROXY_HOST": "127.0.0.1"}
    env |= {"PROXY_PORT": str(servers.free_port()), "PROXY_GRPC_PORT": str(servers.free_port())}
    if args.image:
        env["LENET_IMAGE"] = args.image
    if args.backends:
        env["LENET_BACKENDS"] = args.backends
    stack = Stack(f"lenet-replicas-{os.getpid()}", env)
    results: dict[str, Any] = {"machine": machine.describe(), "wrk": wrk}
    results["settings"] = {
        "argv": " ".join(argv if argv is not None else sys.argv[1:]),
        "image": env.get("LENET_IMAGE", "lenet-serve:latest"),
        "backends": env.get("LENET_BACKENDS", "compose's default"),
        "body": args.body,
        "connections": args.connections,
        "duration": args.duration,
        "rounds": args.rounds,
        "order": " | ".join(
            ", ".join(n for n in rounds.in_order(args.replicas.split(","), r))
            for r in range(args.rounds)
        ),
    }
    # An image named with --image is used as it is: compose would build its full target under
    # that name.
    built = ["proxy"] if args.image else ["api", "proxy"]
    results["settings"]["build"] = f"built first: {' and '.join(built)}"
    say(f"building {', '.join(built)} ({stack.project})")
    stack.compose("build", *built, timeout=1800)
    try:
        results |= measure(args, stack)
    finally:
        say("taking the stack down")
        stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "10")
    results["load_average_end"] = machine.load_average()
    one = next(c for c in results["cells"] if c["server"] == "1 behind the proxy")
    if args.bench_results.exists() and "proxy_cpu_ms_per_request" in one:
        bench_results = json.loads(args.bench_results.read_text())
        results["plan"] = plan(bench_results, one["proxy_cpu_ms_per_request"])
    page = report(results)
    print(page)
    if args.markdown:
        args.markdown.write_text(page + "\n")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
