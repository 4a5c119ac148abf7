"""The fan watch: one reading in, one prediction out, and the alarm decision with its episode memory."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

FEATURES = ("rpm", "vibration", "temperature", "sound")
OUTPUT = "failure_probability"
HISTORY = 60


def env_float(name: str, default: float) -> float:
    """A number from the environment, or the default when unset."""
    return float(os.environ.get(name, default))


class Watch:
    """Recent readings and predictions, and whether an alarm episode is under way.

    An episode starts when the failure probability reaches `threshold` and ends when it falls below
    `reset`; the buzzer and the notification fire once, when an episode starts.
    """

    def __init__(self, threshold: float, reset: float, history: int = HISTORY) -> None:
        self.threshold = threshold
        self.reset = min(reset, threshold)
        self.alarm = False
        self.episodes = 0
        self.last_error = ""
        self.recent: deque[dict[str, Any]] = deque(maxlen=history)
        self.lock = threading.Lock()

    def record(self, reading: dict[str, Any], probability: float) -> bool:
        """Remember one prediction; True when it starts a new alarm episode."""
        with self.lock:
            starts = not self.alarm and probability >= self.threshold
            if starts:
                self.alarm = True
                self.episodes += 1
            elif self.alarm and probability < self.reset:
                self.alarm = False
            entry = {"time": time.time(), "reading": reading, OUTPUT: probability, "alarm": self.alarm}
            self.recent.append(entry)
            self.last_error = ""
            return starts

    def failed(self, error: Exception) -> None:
        """Remember why the last step failed (shown on the page)."""
        with self.lock:
            self.last_error = f"{type(error).__name__}: {error}"

    def status(self) -> dict[str, Any]:
        """What the page shows, as JSON."""
        with self.lock:
            recent: list[dict[str, Any]] = list(self.recent)
            return {
                "threshold": self.threshold,
                "alarm": self.alarm,
                "episodes": self.episodes,
                "last_error": self.last_error,
                "latest": recent[-1] if recent else None,
                "recent": recent,
            }


def model_inputs(reading: dict[str, Any]) -> dict[str, float]:
    """The fan-anomaly model's inputs from one TURBINE_FAN reading."""
    return {name: float(reading[name]) for name in FEATURES}


def probability_of(answer: Any) -> float:
    """The failure probability in the model's answer ({"failure_probability": p})."""
    value: Any | None = answer.get(OUTPUT) if isinstance(answer, dict) else answer
    if isinstance(value, list):
        value = value[0]
    return float(value)  # type: ignore[arg-type]


def run_forever(step: Callable[[], None], watch: Watch, interval: float, log: Any) -> None:
    """Call `step` every `interval` seconds; a failed step is logged and shown, never fatal."""
    while True:
        try:
            step()
        except Exception as exc:  # the loop outlives a missing reading or a model hiccup
            watch.failed(exc)
            log.warning("step failed: %s", exc)
        time.sleep(interval)
