"""A process workload's sandbox, decided purely: the bubblewrap command line and the limits."""

from __future__ import annotations

import resource
import zlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

OPT = "/opt"  # every bound tree goes below it
VENV = "/opt/venv"
MODEL = "/opt/model"
SDK = "/opt/sdk"
WHEELS = "/opt/wheels"
TMP_BYTES = 64 * 1024 * 1024  # the private /tmp
FILE_BYTES = 32 * 1024 * 1024  # RLIMIT_FSIZE: no single file may grow past this
PROCESSES = 256  # RLIMIT_NPROC of a dedicated uid, and the pids cgroup limit
ADDRESS_HEADROOM_MB = 2048  # RLIMIT_AS above the memory limit: shared libraries and arenas
UID_BASE = 200_000  # workload uids come from [UID_BASE, UID_BASE + UID_COUNT), far above login users
UID_COUNT = 50_000


@dataclass(frozen=True)
class Sandbox:
    """One sandboxed command: the root filesystem, what is bound into it, its environment and command."""

    rootfs: str
    read_only: Mapping[str, str] = field(default_factory=dict)  # destination -> host source
    writable: Mapping[str, str] = field(default_factory=dict)  # destination -> host source
    env: Mapping[str, str] = field(default_factory=dict)
    command: Sequence[str] = ()
    cwd: str = "/"
    network: bool = True  # keep the host network namespace (a workload serves on 127.0.0.1)


def bwrap_argv(sandbox: Sandbox) -> list[str]:
    """The bwrap command line: the rootfs read-only as /, fresh /proc, /dev and /tmp, new namespaces.

    Nothing from the host is visible but what the sandbox names; the environment is exactly `env`.
    """
    argv = ["bwrap", "--ro-bind", sandbox.rootfs, "/", "--tmpfs", OPT]  # mount points on a read-only /
    for dest, source in sorted(sandbox.read_only.items()):
        argv += ["--ro-bind", source, dest]
    for dest, source in sorted(sandbox.writable.items()):
        argv += ["--bind", source, dest]
    if not sandbox.writable:
        argv += ["--remount-ro", OPT]
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    argv += ["--unshare-user", "--disable-userns", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    argv += ["--unshare-cgroup-try"]
    if not sandbox.network:
        argv += ["--unshare-net"]
    argv += ["--hostname", "workload", "--die-with-parent", "--new-session", "--clearenv"]
    for name, value in sorted(sandbox.env.items()):
        argv += ["--setenv", name, value]
    argv += ["--chdir", sandbox.cwd, "--", *sandbox.command]
    return argv


def workload_env(threads: int) -> dict[str, str]:
    """The whole environment of a model server in the sandbox: no platform setting, no secret."""
    return {
        "PATH": f"{VENV}/bin:/usr/bin:/bin",
        "PYTHONPATH": SDK,
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        **{name: str(threads) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
    }


def build_env() -> dict[str, str]:
    """The environment of a virtualenv build in the sandbox."""
    return {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "PIP_NO_CACHE_DIR": "1"}


def rlimits(memory_mb: int, dedicated_uid: bool) -> dict[int, int]:
    """The rlimits a workload gets (resource -> soft and hard value); NPROC only for a uid of its own."""
    limits = {
        resource.RLIMIT_FSIZE: FILE_BYTES,
        resource.RLIMIT_AS: (memory_mb + ADDRESS_HEADROOM_MB) * 1024 * 1024,
        resource.RLIMIT_CORE: 0,
    }
    if dedicated_uid:
        limits[resource.RLIMIT_NPROC] = PROCESSES
    return limits


def pick_uid(workload_id: str, taken: Collection[int]) -> int:
    """A uid for the workload: a hash of its id in the workload range, probing past uids in use."""
    start = zlib.crc32(workload_id.encode()) % UID_COUNT
    for step in range(UID_COUNT):
        uid = UID_BASE + (start + step) % UID_COUNT
        if uid not in taken:
            return uid
    raise RuntimeError(f"every workload uid in [{UID_BASE}, {UID_BASE + UID_COUNT}) is in use")
