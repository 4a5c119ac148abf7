"""Debian root filesystems, one per Python version, shared by the process sandbox and the docker images."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from canopy.errors import ValidationFailed
from canopy.workloads.wheels import file_lock

log = logging.getLogger(__name__)

MIRROR = "http://deb.debian.org/debian"
PACKAGES = "python3,python3-venv,python3-pip,ca-certificates"
STAMP = "etc/canopy-rootfs-id"  # written last: its presence marks a complete tree, its text names the build
WORKLOAD_UID = 10001  # the unprivileged user docker workloads run as
PROGRESS_SECONDS = 15.0


@dataclass(frozen=True)
class Suite:
    """A Debian suite whose python3 gives one Python version."""

    python: str
    name: str


# Debian 12 ships Python 3.11 and Debian 11 Python 3.9; no Debian release ships 3.10.
SUITES: dict[str, Suite] = {"3.11": Suite("3.11", "bookworm"), "3.9": Suite("3.9", "bullseye")}


def suite_for(python: str) -> Suite:
    """The suite giving this Python version, or ValidationFailed naming the available ones."""
    suite = SUITES.get(python)
    if suite is None:
        raise ValidationFailed(
            f"no root filesystem for Python {python} (available: {', '.join(sorted(SUITES))}; "
            "Debian ships no 3.10)"
        )
    return suite


def rootfs_dir(cache: Path, python: str) -> Path:
    """Where the root filesystem of this Python version lives in the cache (built or not)."""
    return cache / suite_for(python).name


def rootfs_id(rootfs: Path) -> str:
    """The build id of a complete root filesystem, or '' when it is missing or half-built."""
    stamp = rootfs / STAMP
    return stamp.read_text().strip() if stamp.exists() else ""


def ensure_rootfs(cache: Path, python: str) -> Path:
    """The root filesystem for `python`, built once with debootstrap under a lock, atomically."""
    target = rootfs_dir(cache, python)
    if rootfs_id(target):
        return target
    _check_can_build(cache)
    cache.mkdir(parents=True, exist_ok=True)
    cache.chmod(0o755)  # sandboxed uids must traverse it; nobody but the platform may write
    with file_lock(cache / f".{target.name}.lock"):
        if rootfs_id(target):
            return target
        staging = Path(tempfile.mkdtemp(prefix=f".build-{target.name}-", dir=cache))
        try:
            tree = staging / "rootfs"
            _debootstrap(suite_for(python), tree)
            slim(tree)
            (tree / STAMP).write_text(
                f"{target.name}-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}\n"
            )
            tree.chmod(0o755)
            if target.exists():
                shutil.rmtree(target)  # a half-built tree from an interrupted older layout
            tree.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    log.info("root filesystem for Python %s ready in %s", python, target)
    return target


def _check_can_build(cache: Path) -> None:
    """Building needs root and the debootstrap package; say how to get both otherwise."""
    if os.geteuid() != 0:
        raise ValidationFailed(
            f"the Python root filesystems in {cache} are not built and building them needs root: run "
            f"`sudo env CANOPY_ROOTFS_DIR={cache} python -m canopy.workloads.rootfs` once"
        )
    if shutil.which("debootstrap") is None:
        raise ValidationFailed("debootstrap is missing: run `apt-get install -y debootstrap bubblewrap`")


def _debootstrap(suite: Suite, tree: Path) -> None:
    """Run debootstrap, logging its progress every few seconds; raise with its last lines on failure."""
    log.info("debootstrap %s (Python %s) into %s: a few minutes, once", suite.name, suite.python, tree)
    command = ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", suite.name, str(tree), MIRROR]
    lines: list[str] = []
    last_report = time.monotonic()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines = [*lines[-19:], line.rstrip()]
            if time.monotonic() - last_report > PROGRESS_SECONDS:
                log.info("debootstrap %s: %s", suite.name, line.strip())
                last_report = time.monotonic()
    if proc.returncode != 0:
        raise ValidationFailed(f"debootstrap {suite.name} failed: " + " | ".join(lines[-5:]))


def slim(tree: Path) -> None:
    """Drop caches and docs nobody needs and add the unprivileged workload user."""
    for sub in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"):
        shutil.rmtree(tree / sub, ignore_errors=True)
    passwd, group = tree / "etc/passwd", tree / "etc/group"
    if "canopy:" not in passwd.read_text():
        with passwd.open("a") as handle:
            handle.write(f"canopy:x:{WORKLOAD_UID}:{WORKLOAD_UID}:canopy workload:/tmp:/usr/sbin/nologin\n")
        with group.open("a") as handle:
            handle.write(f"canopy:x:{WORKLOAD_UID}:\n")


def main() -> None:
    """Build every missing root filesystem (python -m canopy.workloads.rootfs [3.11 3.9])."""
    import sys

    from canopy.config import load_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cache = Path(load_config().rootfs_dir)
    for python in sys.argv[1:] or sorted(SUITES):
        print(ensure_rootfs(cache, python), flush=True)


if __name__ == "__main__":
    main()
