"""The CPUs this process may use: the ones it may run on, and no more than its cgroups' CPU
quota pays for (a container's ``--cpus``, a Kubernetes pod's ``limits.cpu``).

A pod limited to 2 CPUs on a 64-CPU node may run on all 64 (``sched_getaffinity``), but gets
2 CPUs' worth of time a period: 64 operator threads a backend would share those 2 and be
throttled, and three backends' pools and TensorFlow's would pass a container's process limit.
As Go's runtime and the JVM do, the quota is read from the cgroup files, version 2
(``cpu.max``) or version 1 (``cpu.cfs_quota_us`` over ``cpu.cfs_period_us``), for the
process's own cgroup and those above it, and the tightest applies.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

PROC_CGROUP = Path("/proc/self/cgroup")
CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cpus() -> int:
    """The CPUs this process may run on, at most its cgroups' quota rounded up; at least 1."""
    allowed = len(os.sched_getaffinity(0))
    quota = cpu_quota()
    return allowed if quota is None else max(1, min(allowed, math.ceil(quota)))


def cpu_quota(proc_cgroup: Path = PROC_CGROUP, root: Path = CGROUP_ROOT) -> float | None:
    """The CPUs' worth of time a period the process's cgroups allow it, the least of them;
    None where none sets a quota, or the files cannot be read (not Linux, no cgroups)."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    quotas = []
    for line in lines:
        if line.count(":") < 2:
            continue
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # version 2's unified hierarchy
            quotas += [_v2_quota(folder) for folder in _folders(root, path)]
        elif "cpu" in controllers.split(","):
            mounted = root / "cpu" if (root / "cpu").is_dir() else root / controllers
            quotas += [_v1_quota(folder) for folder in _folders(mounted, path)]
    found = [quota for quota in quotas if quota is not None]
    return min(found) if found else None


def _folders(mount: Path, path: str) -> list[Path]:
    """The cgroup's folder under ``mount`` and those above it, and the mount itself: inside a
    container the process's cgroup is often the mount's root, whatever path it is named by."""
    parts = [part for part in path.split("/") if part]
    return [mount.joinpath(*parts[:depth]) for depth in range(len(parts), -1, -1)]


def _v2_quota(folder: Path) -> float | None:
    """``cpu.max``: "<quota> <period>" in µs, or "max <period>" for none."""
    try:
        quota, period = (folder / "cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError, ZeroDivisionError):
        return None


def _v1_quota(folder: Path) -> float | None:
    """``cpu.cfs_quota_us`` (-1 for none) over ``cpu.cfs_period_us``."""
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period
