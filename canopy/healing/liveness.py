"""Confirmed-timeout failure detection: a subject is dead only when two independent signals agree.

Signal one is silence: no good beat (a heartbeat, or a report of a replica answering its probe) for
`silence` seconds. Signal two is a witness: the agent saw the process exit or stop, a health probe
failed, or the agent itself is unreachable. A running process whose probe fails is only a witness
once it has been silent for the longer `hang` time, so a slow replica on a saturated CPU is never
restarted. A process the agent saw exit that also fails a direct probe of the watcher's own is
crashed at once: two independent signals agree without waiting for silence. Time is passed in
explicitly (seconds on any monotonic clock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Process = Literal["running", "exited", "stopped", "unknown"]
Verdict = Literal["alive", "suspect", "crashed", "hung", "lost"]


@dataclass(frozen=True)
class Timeouts:
    """How long a subject may stay silent before it is suspect, and before a failing probe alone counts."""

    silence: float
    hang: float


@dataclass
class _Subject:
    """What the detector remembers of one subject."""

    last_beat: float
    process: Process = "running"
    probe_ok: bool = True
    unreachable: bool = False
    seen_at: float = 0.0


@dataclass
class Detector:
    """Confirmed timeouts for many subjects (replicas, service instances, nodes)."""

    timeouts: Timeouts
    _subjects: dict[str, _Subject] = field(default_factory=dict)

    def beat(self, subject: str, now: float) -> None:
        """A good sign: the subject is running and answering."""
        self._subjects[subject] = _Subject(last_beat=now, seen_at=now)

    def observe(self, subject: str, now: float, process: Process, probe_ok: bool) -> None:
        """A report of the subject's process state and probe result; a running, answering one is a beat."""
        if process == "running" and probe_ok:
            self.beat(subject, now)
            return
        known = self._subjects.setdefault(subject, _Subject(last_beat=now))
        known.process, known.probe_ok, known.seen_at = process, probe_ok, now

    def unreachable(self, subject: str, now: float, unreachable: bool = True) -> None:
        """Whether a direct probe of the subject (its agent, its endpoints) failed just now."""
        known = self._subjects.setdefault(subject, _Subject(last_beat=now))
        known.unreachable, known.seen_at = unreachable, now

    def exited_unconfirmed(self) -> list[str]:
        """Subjects reported exited and failing their probe that no direct probe has confirmed yet."""
        return [
            name
            for name, known in self._subjects.items()
            if known.process == "exited" and not known.probe_ok and not known.unreachable
        ]

    def forget(self, subject: str) -> None:
        """Stop watching a subject (it was stopped or replaced)."""
        self._subjects.pop(subject, None)

    def subjects(self) -> list[str]:
        """Every subject being watched."""
        return list(self._subjects)

    def silent_for(self, subject: str, now: float) -> float:
        """Seconds since the subject's last good beat (0 for an unknown subject)."""
        known = self._subjects.get(subject)
        return 0.0 if known is None else max(0.0, now - known.last_beat)

    def verdict(self, subject: str, now: float) -> Verdict:
        """alive, suspect (one signal only), or crashed/hung/lost once both signals agree."""
        known = self._subjects.get(subject)
        if known is None:
            return "alive"
        if known.process == "exited" and not known.probe_ok and known.unreachable:
            return "crashed"  # the agent saw it exit and a direct probe fails too: no need to wait
        silent = now - known.last_beat
        if silent <= self.timeouts.silence:
            return "alive"
        if known.process == "exited" and not known.probe_ok:
            return "crashed"
        if known.process == "stopped" and not known.probe_ok:
            return "hung"
        if known.unreachable:
            return "lost"
        if silent > self.timeouts.hang and not known.probe_ok:
            return "hung"
        return "suspect"


def service_missing(silent_for: float, interval: float, misses: float) -> bool:
    """Whether a service silent for `silent_for` s missed `misses` of the beats due every `interval` s."""
    return silent_for > interval * misses
