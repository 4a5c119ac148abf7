"""Memory, CPU and pids limits for one workload through cgroups (v1 controllers or the v2 hierarchy)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
GROUP = "canopy"
CPU_PERIOD_US = 100_000
CPU_WEIGHTS = {"v2": ("cpu.weight", "100", "1"), "v1": ("cpu/cpu.shares", "1024", "2")}  # normal, lowest


def detect(root: Path = ROOT) -> str:
    """'v2', 'v1' or '' (none usable: not root, or no memory, cpu and pids controllers)."""
    if os.geteuid() != 0:
        return ""
    if (root / "cgroup.controllers").exists():
        return "v2"
    if all((root / controller).is_dir() for controller in ("memory", "cpu", "pids")):
        return "v1"
    return ""


def cpu_files(version: str, cpu: float) -> dict[str, str]:
    """The files of a CPU limit of `cpu` cores and their values, as in limit_files."""
    quota = str(max(1000, int(cpu * CPU_PERIOD_US)))
    if version == "v2":
        return {"cpu.max": f"{quota} {CPU_PERIOD_US}"}
    return {"cpu/cpu.cfs_period_us": str(CPU_PERIOD_US), "cpu/cpu.cfs_quota_us": quota}


def limit_files(version: str, memory_mb: int, cpu: float, pids: int) -> dict[str, str]:
    """The files to write and their values, as 'controller/file' (v1) or 'file' (v2)."""
    memory = str(memory_mb * 1024 * 1024)
    if version == "v2":
        return {
            "memory.max": memory,
            "memory.swap.max": "0",
            **cpu_files(version, cpu),
            "pids.max": str(pids),
        }
    return {"memory/memory.limit_in_bytes": memory, **cpu_files(version, cpu), "pids/pids.max": str(pids)}


def _target(version: str, name: str, key: str) -> Path:
    """The file of a limit key in the workload's cgroup."""
    if version == "v2":
        return ROOT / GROUP / name / key
    controller, file = key.split("/")
    return ROOT / controller / GROUP / name / file


@dataclass(frozen=True)
class Cgroup:
    """The cgroup(s) of one workload: one directory per controller (v1) or one directory (v2)."""

    version: str
    directories: tuple[Path, ...]
    name: str

    @classmethod
    def create(cls, version: str, name: str, memory_mb: int, cpu: float, pids: int) -> Cgroup:
        """Make the workload's cgroup and write its limits."""
        files = limit_files(version, memory_mb, cpu, pids)
        if version == "v2":
            parent = ROOT / GROUP
            parent.mkdir(exist_ok=True)
            (parent / "cgroup.subtree_control").write_text("+memory +cpu +pids")
            group = cls(version, (parent / name,), name)
        else:
            group = cls(version, tuple(ROOT / c / GROUP / name for c in ("memory", "cpu", "pids")), name)
        for directory in group.directories:
            directory.mkdir(parents=True, exist_ok=True)
        for key, value in files.items():
            with contextlib.suppress(FileNotFoundError):  # memory.swap.max is absent without swap accounting
                _target(version, name, key).write_text(value)
        return group

    def limit_cpu(self, cpu: float) -> None:
        """Change the workload's CPU limit to `cpu` cores."""
        for key, value in cpu_files(self.version, cpu).items():
            _target(self.version, self.name, key).write_text(value)

    def yield_cpu(self, lowest: bool) -> None:
        """Give the workload the lowest CPU weight (among the workloads), or the normal one."""
        key, normal, least = CPU_WEIGHTS[self.version]
        _target(self.version, self.name, key).write_text(least if lowest else normal)

    def join(self, pid: int) -> None:
        """Move a process into the cgroup (its children follow)."""
        for directory in self.directories:
            (directory / "cgroup.procs").write_text(str(pid))

    def pids(self) -> list[int]:
        """Every process still in the cgroup."""
        found: set[int] = set()
        for directory in self.directories:
            with contextlib.suppress(OSError):
                found.update(int(line) for line in (directory / "cgroup.procs").read_text().split())
        return sorted(found)

    def destroy(self) -> None:
        """Kill whatever is left in the cgroup and remove it."""
        for _ in range(50):
            left = self.pids()
            if not left:
                break
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        for directory in self.directories:
            with contextlib.suppress(OSError):
                directory.rmdir()
