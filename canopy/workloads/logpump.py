"""A workload's stdout and stderr, pumped from a pipe into a log file capped with one rotation."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import IO, Protocol

LOG_BYTES = 1024 * 1024  # a log file rotates past this; with the one rotated file, 2 MiB at most
CHUNK = 64 * 1024


class LineFeed(Protocol):
    """Where a workload's output also goes, chunk by chunk (e.g. WorkloadLines, to the logger)."""

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk of output."""

    def close(self) -> None:
        """The output has ended."""


class LogPump:
    """Copies a pipe into path, moving path to path.1 (replacing it) whenever it passes max_bytes.

    Each chunk is also handed to `lines`, when given.
    """

    def __init__(
        self, pipe: IO[bytes], path: Path, max_bytes: int = LOG_BYTES, lines: LineFeed | None = None
    ) -> None:
        self.pipe = pipe
        self.path = path
        self.max_bytes = max_bytes
        self.lines = lines
        self._moving = threading.Lock()
        self.thread = threading.Thread(target=self._run, name=f"log-{path.stem}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        """Copy until the pipe closes (the workload and all its children exited)."""
        handle = self.path.open("ab")
        try:
            while chunk := self.pipe.read1(CHUNK):  # type: ignore[attr-defined]
                if handle.tell() + len(chunk) > self.max_bytes:
                    handle.close()
                    with self._moving:
                        self.path.replace(self.rotated)
                        handle = self.path.open("ab")
                handle.write(chunk[-self.max_bytes :])
                handle.flush()
                if self.lines is not None:
                    self.lines.feed(chunk)
        finally:
            handle.close()
            self.pipe.close()
            if self.lines is not None:
                self.lines.close()

    def move_to(self, path: Path) -> None:
        """Go on writing under another name (the file kept so far moves there too)."""
        with self._moving:
            for part in (self.rotated, self.path):
                if part.exists():
                    part.replace(rotated(path) if part == self.rotated else path)
            self.path = path

    @property
    def rotated(self) -> Path:
        """The previous log file."""
        return rotated(self.path)

    def join(self, timeout: float) -> None:
        """Wait for the last bytes to land."""
        self.thread.join(timeout)


def rotated(path: Path) -> Path:
    """Where a log file's previous part is kept."""
    return path.with_name(path.name + ".1")


def read_log(path: Path) -> bytes:
    """The kept log of a workload: the rotated part, then the current one."""
    return b"".join(part.read_bytes() for part in (rotated(path), path) if part.exists())
