"""Shared pieces of `canopy infra`: paths, ownership records, status rows and the component base."""

from __future__ import annotations

import json
import os
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bootstrap.infra.process import port_open, tail, terminate
from canopy.config import load_config
from canopy.errors import CanopyError
from canopy.private import make_private_dir

HOST = "127.0.0.1"


class InfraError(CanopyError):
    """A component could not be installed, started or stopped."""

    code = "infra_failed"


@dataclass(frozen=True)
class ComponentStatus:
    """One row of `canopy infra status`."""

    name: str
    up: bool
    address: str
    started_by_canopy: bool
    serves: bool = True  # False: a binary canopy builds (up means built and working)


def say(message: str) -> None:
    """Print one progress line straight away."""
    print(message, file=sys.stdout, flush=True)


@dataclass(frozen=True)
class InfraPaths:
    """Where infra keeps caches, data, logs and ownership records: $CANOPY_HOME/infra."""

    root: Path

    @classmethod
    def default(cls) -> InfraPaths:
        """The paths under the configured CANOPY_HOME."""
        return cls(load_config().home / "infra")

    @property
    def state(self) -> Path:
        """Directory of the ownership records, one JSON file per component started by canopy."""
        return self._dir("state")

    @property
    def logs(self) -> Path:
        """Directory of the per-component log files."""
        return self._dir("logs")

    @property
    def lock(self) -> Path:
        """The file locked while an up or down runs."""
        return make_private_dir(self.root) / "lock"

    def cache(self, name: str) -> Path:
        """The cache/data directory of one component."""
        return self._dir(name)

    def log(self, name: str) -> Path:
        """The log file of one component."""
        return self.logs / f"{name}.log"

    def _dir(self, name: str) -> Path:
        return make_private_dir(self.root / name)


@dataclass(frozen=True)
class Ownership:
    """The record that canopy started a component: its pid and the process's start time."""

    name: str
    pid: int
    start_ticks: int
    extra: dict[str, Any]

    def alive(self) -> bool:
        """Whether the recorded process still runs (and is the same process, not a reused pid)."""
        try:
            if start_ticks(self.pid) != self.start_ticks:
                return False
            return psutil.Process(self.pid).status() != psutil.STATUS_ZOMBIE
        except (OSError, psutil.Error):
            return False


def start_ticks(pid: int) -> int:
    """When a process started, in clock ticks since boot: unlike a wall-clock time, no clock step moves it."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[19])


def save_ownership(paths: InfraPaths, name: str, pid: int, **extra: Any) -> Ownership:
    """Record that canopy started `name` as process `pid`."""
    record = Ownership(name, pid, start_ticks(pid), dict(extra))
    body = {
        "name": name,
        "pid": pid,
        "start_ticks": record.start_ticks,
        "started_at": time.time(),
        "extra": record.extra,
    }
    target = paths.state / f"{name}.json"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=2) + "\n")
    os.replace(tmp, target)
    return record


def load_ownership(paths: InfraPaths, name: str) -> Ownership | None:
    """The ownership record of `name`, or None when canopy did not start it."""
    target = paths.state / f"{name}.json"
    try:
        body = json.loads(target.read_text())
        return Ownership(name, int(body["pid"]), int(body["start_ticks"]), dict(body.get("extra", {})))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def clear_ownership(paths: InfraPaths, name: str) -> None:
    """Forget that canopy started `name`."""
    (paths.state / f"{name}.json").unlink(missing_ok=True)


class Component(ABC):
    """One piece of infrastructure that `canopy infra` can install, start, probe and stop."""

    name: str = ""
    port: int = 0
    serves = True  # False: a binary canopy builds and the platform runs itself; nothing to start or stop
    start_timeout: float = 60.0
    stop_timeout: float = 30.0

    def __init__(self, paths: InfraPaths) -> None:
        self.paths = paths

    @property
    def address(self) -> str:
        """Where clients reach the component."""
        return f"{HOST}:{self.port}"

    @property
    def log_file(self) -> Path:
        """The component's log file."""
        return self.paths.log(self.name)

    @property
    def cache(self) -> Path:
        """The component's cache/data directory."""
        return self.paths.cache(self.name)

    def binaries(self) -> dict[str, str]:
        """Executables this component needs, mapped to the Debian package that provides them."""
        return {}

    def occupied(self) -> bool:
        """Whether something already listens where this component would."""
        return port_open(HOST, self.port)

    @abstractmethod
    def answers(self, timeout: float = 3.0) -> bool:
        """Whether the component really serves requests (a protocol-level check, not just a port)."""

    def prepare(self) -> None:
        """Install or download what the component needs; fast when already cached."""
        return None

    @abstractmethod
    def start(self) -> Ownership:
        """Start the component detached and record that canopy owns it."""

    def ensure(self) -> None:
        """Idempotent set-up once the component answers (roles, databases, ...)."""
        return None

    def stop(self, record: Ownership) -> None:
        """Stop the process canopy started."""
        terminate(record.pid, self.stop_timeout)

    def failure(self, problem: str) -> InfraError:
        """An error naming this component, what went wrong and the end of its log."""
        lines = tail(self.log_file, 25)
        body = "\n".join(f"    {line}" for line in lines) or "    (the log is empty)"
        return InfraError(f"{self.name}: {problem}\n  last lines of {self.log_file}:\n{body}")
