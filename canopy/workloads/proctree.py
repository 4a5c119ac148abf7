"""A process and its descendants read from /proc/<pid>/task/*/children, without scanning every process."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator

FROZEN_STATES = frozenset("Tt")  # stopped by a signal (SIGSTOP) or stopped by a tracer
READ_SIZE = 4096


@functools.cache
def children_listed() -> bool:
    """Whether this kernel lists each task's children in /proc (CONFIG_PROC_CHILDREN, Linux 3.5+)."""
    return os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def _read(path: str) -> bytes:
    """A /proc file's bytes, read through its descriptor (cheaper than a buffered file, every report)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = [os.read(fd, READ_SIZE)]
        while chunks[-1]:
            chunks.append(os.read(fd, READ_SIZE))
    finally:
        os.close(fd)
    return b"".join(chunks)


def _tree(pid: int) -> Iterator[int]:
    """`pid` and every process below it that is still there, each read only once the one before is used."""
    pending = [pid]
    while pending:
        current = pending.pop()
        yield current
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except (FileNotFoundError, ProcessLookupError):
            continue  # it exited meanwhile
        for task in tasks:
            try:
                pending.extend(int(child) for child in _read(f"/proc/{current}/task/{task}/children").split())
            except (FileNotFoundError, ProcessLookupError):
                continue  # the thread ended meanwhile


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it that is still there."""
    return list(_tree(pid))


def state(pid: int) -> str | None:
    """The one-letter state of a process (R, S, T, ...), or None when it has gone."""
    try:
        data = _read(f"/proc/{pid}/stat")
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = data[data.rfind(b")") + 1 :].split(maxsplit=1)  # the name in parentheses may hold anything
    return fields[0].decode() if fields else None


def any_frozen(pid: int) -> bool:
    """Whether `pid` or any process below it is stopped (SIGSTOP or a tracer); the walk ends at the first."""
    return any(state(process) in FROZEN_STATES for process in _tree(pid))
