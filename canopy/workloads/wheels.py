"""The host-side wheel cache: resolve pinned requirements to wheels per Python version, offline after."""

from __future__ import annotations

import fcntl
import hashlib
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from canopy.errors import ValidationFailed
from canopy.models.requirements import checked_requirements
from canopy.workloads.pip_sandbox import HostSandbox, pip_cache_dir, pip_options, run_sandboxed

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


def download_command(requirements_file: Path, target: Path, python: str) -> list[str]:
    """Pip download of binary wheels only (never an sdist, never a build) for `python` on Linux x86-64."""
    command = [sys.executable, "-m", "pip", "download", "-q", *pip_options(pip_cache_dir())]
    command += ["--only-binary=:all:", "--python-version", python, "--implementation", "cp"]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    return [*command, "-d", str(target), "-r", str(requirements_file)]


def download_wheels(requirements: Sequence[str], python: str, cache: Path, *, private: Path) -> Path:
    """Download binary wheels of every requirement for `python` into cache/<key>; reuse when present.

    pip runs sandboxed with `private` (the platform's home) hidden. Raises ValidationFailed naming
    a requirement that is refused or has no wheel for this Python.
    """
    checked = checked_requirements(requirements, "the package's requirements")
    target = cache / requirements_key(checked, python)
    done = target / ".complete"
    if done.exists():
        return target
    with file_lock(cache / f".{target.name}.lock"):
        if done.exists():
            return target
        target.mkdir(parents=True, exist_ok=True)
        (target / "requirements.txt").write_text("\n".join([*checked, *SDK_REQUIREMENTS]) + "\n")
        sandbox = HostSandbox(hidden=(private,), writable=(target, pip_cache_dir()))
        result = run_sandboxed(download_command(target / "requirements.txt", target, python), sandbox)
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


def choose_python(
    requirements: Sequence[str], candidates: Sequence[str], cache: Path, *, private: Path
) -> tuple[str, Path]:
    """The first candidate Python for which every pin has a wheel, with its wheel directory.

    Pins are never loosened; when no candidate fits, the error names each candidate's failing pin.
    """
    checked = checked_requirements(requirements, "the package's requirements")
    failures: list[str] = []
    for python in candidates:
        try:
            return python, download_wheels(checked, python, cache, private=private)
        except ValidationFailed as exc:
            failures.append(exc.message)
    raise ValidationFailed("no Python runtime fits the pinned requirements: " + "; ".join(failures))
