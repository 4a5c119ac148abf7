"""Process helpers for `canopy infra`: detached spawning, stopping, logged commands and probes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import psutil

MAX_LOG_BYTES = 20 * 1024 * 1024

# sh starts the daemon in the background of a fresh session, prints its pid and exits at once,
# so the daemon is re-parented to init: it outlives the caller and never lingers as its zombie.
_LAUNCHER = 'log="$1"; shift; "$@" </dev/null >>"$log" 2>&1 & echo $!'


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a TCP connection to host:port is accepted."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int) -> list[str]:
    """The last `lines` lines of a text file, or nothing when it does not exist."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


def rotate(log: Path) -> None:
    """Move a log out of the way when it grew past MAX_LOG_BYTES, keeping one old copy."""
    try:
        if log.stat().st_size > MAX_LOG_BYTES:
            os.replace(log, log.with_suffix(log.suffix + ".1"))
    except OSError:
        pass


def mark(log: Path, text: str) -> None:
    """Append a timestamped marker line to a log file."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as handle:
        handle.write(f"==== {time.strftime('%Y-%m-%d %H:%M:%S')} canopy infra: {text}\n")


def spawn_detached(
    argv: Sequence[str], log: Path, *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> int:
    """Start argv in its own session with output appended to `log`, returning its pid."""
    rotate(log)
    mark(log, "starting " + " ".join(argv))
    full_env = dict(os.environ if env is None else env)
    result = subprocess.run(
        ["/bin/sh", "-c", _LAUNCHER, "sh", str(log), *argv],
        cwd=cwd,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        check=False,
        timeout=30,
    )
    try:
        return int(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError(f"could not start {argv[0]}: {result.stdout.strip()}") from None


def is_running(pid: int) -> bool:
    """Whether pid is a live (non-zombie) process."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def terminate(pid: int, timeout: float) -> None:
    """Send SIGTERM, wait up to `timeout` seconds for the process to go, then SIGKILL it."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(pid):
            return
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while is_running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def run_logged(
    argv: Sequence[str],
    log: Path,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
    timeout: float = 1800.0,
) -> int:
    """Run a command to completion with its output appended to `log`; returns the exit code."""
    mark(log, "running " + " ".join(argv))
    full_env = dict(os.environ if env is None else env)
    with log.open("a") as sink:
        if on_line is None:
            return subprocess.run(
                list(argv),
                cwd=cwd,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                check=False,
                timeout=timeout,
            ).returncode
        with subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                sink.write(line)
                sink.flush()
                on_line(line.rstrip("\n"))
            return proc.wait(timeout=timeout)


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    *,
    alive: Callable[[], bool] | None = None,
    interval: float = 0.5,
) -> str:
    """Poll `check` until it passes ("ok"), the process dies ("died") or time runs out ("timeout")."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return "ok"
        if alive is not None and not alive():
            return "ok" if check() else "died"
        if time.monotonic() >= deadline:
            return "timeout"
        time.sleep(interval)
