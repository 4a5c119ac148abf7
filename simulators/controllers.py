"""Simulated controllers that keep real state and change it on commands."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

INITIAL_STATE: dict[str, dict[str, Any]] = {
    "FAN": {"on": False, "speed": 0},
    "AC": {"on": False, "target": 24.0, "mode": "auto"},
    "LIGHT": {"on": False, "brightness": 0},
    "DISPLAY": {"text": ""},
    "BUZZER": {"beeps": 0},
    "SPRINKLER": {"on": False, "minutes": 0},
}


class CommandError(ValueError):
    """A command the controller cannot carry out."""


@dataclass
class Controller:
    """One controller of a known type with its current state."""

    device_type: str
    state: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse unknown types and start from the initial state."""
        if self.device_type not in INITIAL_STATE:
            raise ValueError(
                f"no simulated controller {self.device_type!r}; known: {', '.join(INITIAL_STATE)}"
            )
        self.state = {**copy.deepcopy(INITIAL_STATE[self.device_type]), **self.state}

    def apply(self, command: str, params: dict[str, Any]) -> dict[str, Any]:
        """Carry out a command and return the new state."""
        kind = self.device_type
        if kind == "BUZZER":
            self.state["beeps"] += int(params.get("times", 1))
        elif kind == "DISPLAY":
            self.state["text"] = str(params.get("text", ""))
        else:
            unknown = set(params) - set(INITIAL_STATE[kind])
            if unknown:
                raise CommandError(f"{kind} has no setting {', '.join(sorted(unknown))}")
            self.state.update(params)
            self._settle()
        return dict(self.state)

    def _settle(self) -> None:
        """Keep the state consistent: a switched-on fan or light with level 0 gets a default level."""
        for level, default in (("speed", 50), ("brightness", 100)):
            if level in self.state:
                if self.state["on"] and self.state[level] == 0:
                    self.state[level] = default
                if not self.state["on"]:
                    self.state[level] = 0
