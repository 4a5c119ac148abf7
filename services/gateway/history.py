"""Recent readings of each device, in memory: a small ring per device for live charts.

Only numeric fields are kept (booleans are not numbers here), as 8-byte doubles in arrays: with the
defaults (120 readings of up to 16 fields for up to 2,000 devices) the whole history stays within a
few megabytes. The least recently updated device is forgotten first.
"""

from __future__ import annotations

import math
import threading
from array import array
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

READINGS_PER_DEVICE = 120
MAX_DEVICES = 2000
MAX_FIELDS = 16
COLORS = ("#2b7a78", "#c05621", "#5a4fcf", "#b83280", "#2f855a", "#975a16")


@dataclass(frozen=True)
class Series:
    """A device's recent readings as chart data: times in unix seconds and one value list per field."""

    times: list[float]
    values: dict[str, list[float | None]]

    def chart(self) -> dict[str, Any]:
        """The portal's chart JSON: {"times": [...], "series": [{"label", "values", "color"}]}."""
        return {
            "times": self.times,
            "series": [
                {"label": name, "values": values, "color": COLORS[index % len(COLORS)]}
                for index, (name, values) in enumerate(self.values.items())
            ],
        }


def numeric_fields(reading: Mapping[str, Any]) -> dict[str, float]:
    """The fields of a reading that are finite numbers (not booleans), as floats."""
    return {
        name: float(value)
        for name, value in reading.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    }


class _Ring:
    """One device's last `size` readings: a time array and one array per field, NaN where absent."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.times = array("d")
        self.columns: dict[str, array[float]] = {}
        self.next = 0  # where the next reading overwrites, once the ring is full

    def newest(self) -> float:
        """The time of the newest reading (-inf when empty)."""
        if not self.times:
            return -math.inf
        return self.times[self.next - 1] if len(self.times) == self.size else self.times[-1]

    def add(self, at: float, values: Mapping[str, float]) -> None:
        """Keep a reading, overwriting the oldest when full; new fields get a column (up to MAX_FIELDS)."""
        for name in values:
            if name not in self.columns and len(self.columns) < MAX_FIELDS:
                self.columns[name] = array("d", [math.nan] * len(self.times))
        if len(self.times) < self.size:
            self.times.append(at)
            for name, column in self.columns.items():
                column.append(values.get(name, math.nan))
            return
        self.times[self.next] = at
        for name, column in self.columns.items():
            column[self.next] = values.get(name, math.nan)
        self.next = (self.next + 1) % self.size

    def series(self) -> Series:
        """The readings oldest first."""
        cut = self.next if len(self.times) == self.size else 0

        def ordered(column: array[float]) -> list[float]:
            return column[cut:].tolist() + column[:cut].tolist()

        return Series(
            ordered(self.times),
            {
                name: [None if math.isnan(v) else v for v in ordered(column)]
                for name, column in self.columns.items()
            },
        )


class ReadingHistory:
    """The recent readings of up to `max_devices` devices, `size` each; safe across threads."""

    def __init__(self, size: int = READINGS_PER_DEVICE, max_devices: int = MAX_DEVICES) -> None:
        self.size = size
        self.max_devices = max_devices
        self._rings: OrderedDict[str, _Ring] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, device_id: str, at: float, reading: Mapping[str, Any]) -> None:
        """Keep a reading taken at unix time `at`; one not newer than the device's newest is ignored."""
        values = numeric_fields(reading)
        with self._lock:
            ring = self._rings.get(device_id)
            if ring is None:
                ring = self._rings[device_id] = _Ring(self.size)
                while len(self._rings) > self.max_devices:
                    self._rings.popitem(last=False)
            elif at <= ring.newest():
                return
            self._rings.move_to_end(device_id)
            ring.add(at, values)

    def known(self, device_id: str) -> bool:
        """Whether any reading of the device is kept."""
        with self._lock:
            return device_id in self._rings

    def series(self, device_id: str) -> Series:
        """The device's kept readings, oldest first (empty when none)."""
        with self._lock:
            ring = self._rings.get(device_id)
            return ring.series() if ring is not None else Series([], {})
