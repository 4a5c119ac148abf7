"""The host-side wheel cache: resolve pinned requirements to wheels per Python version, offline after."""

from __future__ import annotations

import fcntl
import hashlib
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from canopy.errors import ValidationFailed

# The model server and SDK run on the standard library, so a workload's env holds exactly the package's pins.
SDK_REQUIREMENTS: tuple[str, ...] = ()
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64", "linux_x86_64")
HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def requirements_key(requirements: Sequence[str], python: str) -> str:
    """A short hash naming one resolved set of requirements for one Python version."""
    text = "\n".join(sorted({*requirements, *SDK_REQUIREMENTS})) + f"\npython={python}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock across processes, held for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def download_wheels(requirements: Sequence[str], python: str, cache: Path) -> Path:
    """Download binary wheels of every requirement for `python` into cache/<key>; reuse when present.

    Raises ValidationFailed naming the requirement that has no wheel for this Python.
    """
    target = cache / requirements_key(requirements, python)
    done = target / ".complete"
    if done.exists():
        return target
    with file_lock(cache / f".{target.name}.lock"):
        if done.exists():
            return target
        target.mkdir(parents=True, exist_ok=True)
        wanted = [*requirements, *SDK_REQUIREMENTS]
        (target / "requirements.txt").write_text("\n".join(wanted) + "\n")
        command = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q"]
        command += ["--only-binary=:all:", "--python-version", python, "--implementation", "cp"]
        for platform in PLATFORMS:
            command += ["--platform", platform]
        command += ["-d", str(target), "-r", str(target / "requirements.txt")]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ValidationFailed(
                f"no wheel for Python {python}: {failing_requirement(result.stderr)}",
                details={"python": python, "pip": result.stderr.strip().splitlines()[-3:]},
            )
        done.touch()
    return target


def failing_requirement(pip_stderr: str) -> str:
    """The requirement pip names in a resolution failure, or pip's last error line."""
    match = re.search(r"No matching distribution found for (\S+)", pip_stderr)
    if match:
        return f"requirement {match.group(1)} has no wheel"
    lines = [line for line in pip_stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "pip download failed"


def choose_python(requirements: Sequence[str], candidates: Sequence[str], cache: Path) -> tuple[str, Path]:
    """The first candidate Python for which every pin has a wheel, with its wheel directory.

    Pins are never loosened; when no candidate fits, the error names each candidate's failing pin.
    """
    failures: list[str] = []
    for python in candidates:
        try:
            return python, download_wheels(requirements, python, cache)
        except ValidationFailed as exc:
            failures.append(exc.message)
    raise ValidationFailed("no Python runtime fits the pinned requirements: " + "; ".join(failures))
