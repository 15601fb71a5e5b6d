"""service.cpus on cgroup files the tests write: version 1 and 2, nested, unlimited, absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from service import cpus


def cgroups(tmp_path: Path, membership: str, files: dict[str, str]) -> float | None:
    """``cpu_quota`` of a process in ``membership`` (/proc/self/cgroup's lines), over a
    cgroup mount holding ``files`` (path under the mount → content)."""
    proc = tmp_path / "cgroup"
    proc.write_text(membership)
    root = tmp_path / "sys"
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    return cpus.cpu_quota(proc, root)


@pytest.mark.parametrize(
    ("membership", "files", "quota"),
    [
        pytest.param("0::/\n", {"cpu.max": "200000 100000\n"}, 2.0, id="v2 container: 2 CPUs"),
        pytest.param("0::/\n", {"cpu.max": "max 100000\n"}, None, id="v2 unlimited"),
        pytest.param(
            "0::/kubepods/pod1/c1\n",
            {"kubepods/pod1/c1/cpu.max": "max 100000", "kubepods/pod1/cpu.max": "150000 100000"},
            1.5,
            id="v2 pod's limit above the container",
        ),
        pytest.param(
            "0::/docker/abc\n",
            {"cpu.max": "50000 100000"},
            0.5,
            id="v2 named by the host's path, mounted as its own root",
        ),
        pytest.param(
            "4:memory:/x\n2:cpu,cpuacct:/docker/abc\n",
            {
                "cpu/docker/abc/cpu.cfs_quota_us": "300000\n",
                "cpu/docker/abc/cpu.cfs_period_us": "100000\n",
            },
            3.0,
            id="v1 --cpus 3",
        ),
        pytest.param(
            "2:cpu,cpuacct:/\n",
            {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"},
            None,
            id="v1 unlimited",
        ),
        pytest.param("0::/\n", {}, None, id="no cpu files"),
        pytest.param("0::/\n", {"cpu.max": "nonsense"}, None, id="cpu.max unreadable"),
        pytest.param("garbled\n", {"cpu.max": "100000 100000"}, None, id="membership garbled"),
    ],
)
def test_the_quota_is_the_tightest_of_the_process_cgroups(
    tmp_path: Path, membership: str, files: dict[str, str], quota: float | None
) -> None:
    assert cgroups(tmp_path, membership, files) == quota


def test_without_proc_there_is_no_quota(tmp_path: Path) -> None:
    assert cpus.cpu_quota(tmp_path / "absent", tmp_path) is None


@pytest.mark.parametrize(
    ("allowed", "quota", "usable"),
    [(64, 2.0, 2), (64, 1.5, 2), (64, 0.1, 1), (2, 8.0, 2), (4, None, 4)],
)
def test_usable_cpus_are_those_allowed_within_the_quota_rounded_up(
    monkeypatch: pytest.MonkeyPatch, allowed: int, quota: float | None, usable: int
) -> None:
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda _pid: set(range(allowed)))
    monkeypatch.setattr(cpus, "cpu_quota", lambda: quota)
    assert cpus.usable_cpus() == usable
