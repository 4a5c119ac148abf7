"""What runs in a workload's child process before bubblewrap: mounts staged as root, limits, dropped uid."""

from __future__ import annotations

import ctypes
import os
import resource
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from canopy.workloads.cgroups import Cgroup

CLONE_NEWNS = 0x20000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 32, 4096, 16384
MS_PRIVATE = 1 << 18
NICENESS = 5
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Confinement:
    """How to confine the child: staged read-only sources, cgroup, rlimits, cores and the uid to become."""

    uid: int | None = None  # None: stay the platform's uid (not root, so no uid of its own)
    stage_dir: str = ""  # as root: where the sources are bind-mounted, read-only, in a private mount ns
    sources: Mapping[str, str] = field(default_factory=dict)  # name under stage_dir -> host path
    cgroup: Cgroup | None = None
    limits: Mapping[int, int] = field(default_factory=dict)
    cores: tuple[int, ...] = ()


def staged_paths(sources: Mapping[str, str], stage_dir: str) -> dict[str, str]:
    """Where each source appears once staged: stage_dir/<name>."""
    return {name: f"{stage_dir}/{name}" for name in sources}


def preexec(confinement: Confinement) -> Callable[[], None]:
    """The preexec_fn of the bwrap process: runs in the child between fork and exec."""
    parent = os.getpid()

    def apply() -> None:
        """Own session; stage mounts and join the cgroup while root; limits; the workload uid; die with us.

        The death signal is set last (a change of uid clears it), and a parent that died before it was
        set is caught by its pid: a sandbox is never left running without its agent.
        """
        os.setsid()
        if confinement.stage_dir:
            _stage(confinement.sources, confinement.stage_dir)
        if confinement.cgroup is not None:
            confinement.cgroup.join(os.getpid())
        for limit, value in confinement.limits.items():
            resource.setrlimit(limit, (value, value))
        if confinement.cores:
            os.sched_setaffinity(0, confinement.cores)
        os.nice(NICENESS)
        if confinement.uid is not None:
            os.setgroups([])
            os.setresgid(confinement.uid, confinement.uid, confinement.uid)
            os.setresuid(confinement.uid, confinement.uid, confinement.uid)
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)

    return apply


def _stage(sources: Mapping[str, str], stage_dir: str) -> None:
    """In a private mount namespace, bind each source read-only under a fresh tmpfs at stage_dir.

    CANOPY_HOME is 0700, so the workload uid cannot reach the package or virtualenv by path; staged
    here while still root, bubblewrap (running as the workload uid) can bind them from stage_dir.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    _mount(libc, "canopy-stage", stage_dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k")
    for name, source in staged_paths(sources, stage_dir).items():
        os.mkdir(source)
        _mount(libc, sources[name], source, None, MS_BIND | MS_REC)
        _mount(libc, None, source, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _mount(
    libc: ctypes.CDLL, source: str | None, target: str, fstype: str | None, flags: int, data: str = ""
) -> None:
    """mount(2), raising OSError naming the target."""
    encoded = [value.encode() if value else None for value in (source, target, fstype, data)]
    _check(libc.mount(encoded[0], encoded[1], encoded[2], flags, encoded[3]), f"mount {target}")


def _check(result: int, what: str) -> None:
    """Raise OSError with errno when a libc call failed."""
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def stage_dir(rootfs_cache: Path) -> str:
    """A directory outside CANOPY_HOME that every uid can traverse, to stage mounts on (created once)."""
    directory = rootfs_cache / ".stage"
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    return str(directory)
