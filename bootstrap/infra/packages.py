"""Install the Debian packages the components need, once, when one of their binaries is missing."""

from __future__ import annotations

import glob
import os
import shutil
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from bootstrap.infra.base import InfraError, say
from bootstrap.infra.process import run_logged, tail

# Service start-up during package installation is refused so that apt does not start system
# mosquitto/postgresql/dockerd services: canopy starts the components itself.
POLICY_RC = Path("/usr/sbin/policy-rc.d")
_EXTRA_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")
# Binaries the platform itself runs, whatever the backends: bubblewrap sandboxes pip on the host.
_updated = False


def find_binary(spec: str) -> str | None:
    """Locate an executable by name (PATH plus the sbin dirs) or by a glob path; None if absent."""
    if "/" in spec:
        found = sorted(glob.glob(spec))
        return found[-1] if found else None
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(_EXTRA_DIRS)
    return shutil.which(spec, path=path)


def missing_packages(binaries: Mapping[str, str]) -> list[str]:
    """The packages (in first-seen order, deduplicated) whose binary is missing."""
    wanted: list[str] = []
    for spec, package in binaries.items():
        if find_binary(spec) is None and package not in wanted:
            wanted.append(package)
    return wanted


def _privileged(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return argv
    if shutil.which("sudo"):
        return ["sudo", "-n", *argv]
    raise InfraError(f"'{' '.join(argv)}' needs root; run canopy infra as root or install sudo")


def _apt(argv: list[str], log: Path, what: str) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", NEEDRESTART_MODE="a")

    def progress(line: str) -> None:
        if line.startswith("Setting up "):
            say(f"system: {line.split(' (')[0].lower()}")

    code = run_logged(_privileged(argv), log, env=env, on_line=progress)
    if code != 0:
        body = "\n".join(f"    {line}" for line in tail(log, 20))
        raise InfraError(f"system: {what} failed (exit {code})\n  last lines of {log}:\n{body}")


def install(packages: Iterable[str], log: Path) -> None:
    """Run apt-get update (once per process) and apt-get install -y for the given packages."""
    global _updated
    names = list(packages)
    if not names:
        return
    started = time.monotonic()
    say(f"system: installing {' '.join(names)} with apt-get (first run only)...")
    if not _updated:
        say("system: apt-get update...")
        _apt(["apt-get", "update"], log, "apt-get update")
        _updated = True
    placed_policy = False
    if os.geteuid() == 0 and not POLICY_RC.exists():
        POLICY_RC.write_text("#!/bin/sh\n# written by canopy infra during apt-get install\nexit 101\n")
        POLICY_RC.chmod(0o755)
        placed_policy = True
    try:
        _apt(
            ["apt-get", "install", "-y", "-o", "Dpkg::Use-Pty=0", *names],
            log,
            f"apt-get install {' '.join(names)}",
        )
    finally:
        if placed_policy:
            POLICY_RC.unlink(missing_ok=True)
    say(f"system: installed {' '.join(names)} ({time.monotonic() - started:.1f} s)")


def ensure_binaries(binaries: Mapping[str, str], log: Path) -> None:
    """Install whatever packages provide the missing binaries, then check they are all there."""
    install(missing_packages(binaries), log)
    still = [spec for spec in binaries if find_binary(spec) is None]
    if still:
        raise InfraError(f"system: still missing after apt-get install: {', '.join(still)}")


# Process workloads run under bubblewrap in root filesystems that debootstrap builds (also for images).
SANDBOX_BINARIES = {"bwrap": "bubblewrap", "debootstrap": "debootstrap"}


def ensure_sandbox_tools(log: Path) -> None:
    """Install bubblewrap and debootstrap when missing (root only); otherwise say which apt command to run."""
    missing = missing_packages(SANDBOX_BINARIES)
    if missing and os.geteuid() != 0:
        raise InfraError(
            f"process workloads need {', '.join(missing)}: run `sudo apt-get install -y {' '.join(missing)}`"
        )
    ensure_binaries(SANDBOX_BINARIES, log)
