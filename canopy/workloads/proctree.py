"""A process and its descendants read from /proc/<pid>/task/*/children, without scanning every process."""

from __future__ import annotations

import functools
import os

FROZEN_STATES = frozenset("Tt")  # stopped by a signal (SIGSTOP) or stopped by a tracer


@functools.cache
def children_listed() -> bool:
    """Whether this kernel lists each task's children in /proc (CONFIG_PROC_CHILDREN, Linux 3.5+)."""
    return os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it that is still there."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except (FileNotFoundError, ProcessLookupError):
            continue  # it exited meanwhile
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children", "rb") as children:
                    pending.extend(int(child) for child in children.read().split())
            except (FileNotFoundError, ProcessLookupError):
                continue  # the thread ended meanwhile
    return found


def state(pid: int) -> str | None:
    """The one-letter state of a process (R, S, T, ...), or None when it has gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = data[data.rfind(b")") + 1 :].split(maxsplit=1)  # the name in parentheses may hold anything
    return fields[0].decode() if fields else None


def any_frozen(pid: int) -> bool:
    """Whether `pid` or any process below it is stopped (SIGSTOP or a tracer)."""
    return any(state(process) in FROZEN_STATES for process in descendants(pid))
