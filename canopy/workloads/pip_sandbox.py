"""Run pip on the platform host inside bubblewrap: scrubbed environment, private paths hidden, timeouts.

pip only ever downloads binary wheels here, but it still talks to an index that a package names
indirectly; it runs with no platform secret in its environment, `CANOPY_HOME` replaced by an empty
tmpfs (only the wheel directory it writes to is bound back), a read-only host root and its own /tmp.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from canopy.errors import ConfigError, Timeout

BWRAP = "bwrap"
SOCKET_TIMEOUT = 60  # seconds pip waits on one connection
RUN_TIMEOUT = 1800.0  # seconds one pip run may take (large wheels such as tensorflow)
LANG = "C.UTF-8"
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class HostSandbox:
    """What a sandboxed run may see: paths hidden behind an empty tmpfs and paths it may write."""

    hidden: tuple[Path, ...]
    writable: tuple[Path, ...]


def pip_cache_dir() -> Path:
    """Pip's HTTP cache, shared by every deployment on this host and outside any CANOPY_HOME."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "canopy" / "pip"


def scrubbed_env(home: Path) -> dict[str, str]:
    """The whole environment pip gets: no CANOPY_*, database URL, storage key or password."""
    return {"PATH": SYSTEM_PATH, "HOME": str(home), "LANG": LANG, "PIP_CONFIG_FILE": os.devnull}


def pip_options(cache: Path) -> list[str]:
    """Options for every pip run: no user or site configuration, no prompts, bounded waits."""
    options = ["--isolated", "--no-input", "--disable-pip-version-check"]
    return [*options, "--timeout", str(SOCKET_TIMEOUT), "--cache-dir", str(cache)]


def host_bwrap_argv(command: Sequence[str], sandbox: HostSandbox, workdir: Path) -> list[str]:
    """The bubblewrap command line that runs `command` with the host read-only and private paths hidden."""
    argv = [BWRAP, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):  # pip's own Python, even when under /tmp
        argv += ["--ro-bind", prefix, prefix]
    for path in sandbox.hidden:
        if path.exists():
            argv += ["--tmpfs", str(path)]
    for path in (*sandbox.writable, workdir):
        argv += ["--bind", str(path), str(path)]
    argv += ["--unshare-all", "--share-net", "--die-with-parent", "--new-session", "--chdir", str(workdir)]
    return [*argv, "--", *command]


def run_sandboxed(
    command: Sequence[str], sandbox: HostSandbox, timeout: float = RUN_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run `command` in the sandbox from a throw-away HOME outside every hidden path; capture its output."""
    if shutil.which(BWRAP) is None:
        raise ConfigError(
            "bubblewrap (bwrap) is not installed; it runs pip away from the platform's secrets. "
            "Install the Debian package 'bubblewrap' (canopy infra up and make run do it)"
        )
    for path in sandbox.writable:
        path.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="canopy-pip-") as tmp:
        workdir = Path(tmp)
        try:
            result = subprocess.run(
                host_bwrap_argv(command, sandbox, workdir),
                env=scrubbed_env(workdir),
                cwd=workdir,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise Timeout(f"pip did not finish within {timeout:.0f} s; try the deployment again") from exc
    if result.returncode != 0 and result.stderr.startswith("bwrap:"):
        raise ConfigError(
            f"bubblewrap cannot make a sandbox on this host ({result.stderr.strip()[:300]}); "
            "it needs user namespaces (run as root, or allow unprivileged user namespaces)"
        )
    return result
