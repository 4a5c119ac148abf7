"""Restart pacing: exponential backoff between restarts and a budget of restarts per window."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Budget:
    """At most `restarts` restarts per `window` seconds, `backoff` s apart at first, doubling to `cap` s."""

    restarts: int
    window: float
    backoff: float
    cap: float


@dataclass
class RestartPacer:
    """Per-subject restart history; says when the next restart may run, or that the budget is spent."""

    budget: Budget
    _history: dict[str, list[float]] = field(default_factory=dict)

    def recent(self, subject: str, now: float) -> list[float]:
        """Restart times of the subject within the budget window."""
        kept = [t for t in self._history.get(subject, []) if now - t < self.budget.window]
        self._history[subject] = kept
        return kept

    def spent(self, subject: str, now: float) -> bool:
        """Whether the subject used up its restarts in this window."""
        return len(self.recent(subject, now)) >= self.budget.restarts

    def delay(self, subject: str, now: float) -> float:
        """Seconds to wait from `now` before the next restart may run (0: now)."""
        recent = self.recent(subject, now)
        if not recent:
            return 0.0
        pause = min(self.budget.cap, self.budget.backoff * 2.0 ** (len(recent) - 1))
        return max(0.0, recent[-1] + pause - now)

    def record(self, subject: str, now: float) -> None:
        """Note a restart that was just issued."""
        self.recent(subject, now).append(now)

    def reset(self, subject: str) -> None:
        """Forget a subject's history (it was stopped on purpose)."""
        self._history.pop(subject, None)
