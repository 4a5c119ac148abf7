"""Building infra binaries from Go modules with the machine's Go: finding `go`, its environment, progress."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from bootstrap.infra.base import say

GO_FALLBACKS = ("/usr/local/go/bin/go", "/usr/lib/go/bin/go")
PROGRESS_SECONDS = 15.0


def find_go() -> str | None:
    """The machine's `go`: on PATH, else where the Go tarball or Debian put it."""
    found = shutil.which("go")
    if found:
        return found
    return next((path for path in GO_FALLBACKS if os.access(path, os.X_OK)), None)


def go_env(cache: Path, flags: str = "-mod=mod -buildvcs=false") -> dict[str, str]:
    """The environment of the Go commands: modules from the proxy, the machine's toolchain, a static build."""
    env = dict(os.environ)
    env.update(GOFLAGS=flags, GOTOOLCHAIN="local", CGO_ENABLED="0", GO111MODULE="on")
    env.setdefault("HOME", str(cache))
    return env


def version_line(argv: list[str], prefix: str) -> str:
    """What follows `prefix` on argv's first output line starting with it ('' when it does not run)."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    for line in out.splitlines():
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    return ""


class Progress:
    """Counts `go` output (modules fetched, packages built) and prints it every PROGRESS_SECONDS.

    A timer prints even while `go` is silent for long (one big package can take minutes to compile).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = time.monotonic()
        self.modules = self.packages = 0
        self._done = threading.Event()
        self._timer = threading.Thread(target=self._report, name=f"{name}-progress", daemon=True)

    def __call__(self, line: str) -> None:
        """Count one output line."""
        if line.startswith("go: downloading "):
            self.modules += 1
        elif line and not line.startswith(("go:", "#", " ")):
            self.packages += 1

    def __enter__(self) -> Progress:
        self._timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._timer.join()

    def line(self) -> str:
        """The progress line right now."""
        return (
            f"{self.name}: building... {time.monotonic() - self.started:.0f} s, {self.modules} modules "
            f"fetched, {self.packages} packages compiled"
        )

    def _report(self) -> None:
        while not self._done.wait(PROGRESS_SECONDS):
            say(self.line())
