"""Generate seed 001's synthetic fan telemetry: 20,000 points; before a failure rpm falls, the rest rise."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

FANS = 20
POINTS_PER_FAN = 1000
STEP_MINUTES = 5
COLUMNS = ["timestamp", "device_id", "rpm", "vibration", "temperature", "sound", "failure_soon"]
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "data" / "fan_telemetry.csv"


def degradation(rng: np.random.Generator, points: int) -> np.ndarray:
    """Per step, how far a fan is into the hours before a failure: 0 when healthy, rising to 1 at failure."""
    progress = np.zeros(points)
    step = int(rng.integers(50, 300))
    while step < points:
        window = int(rng.integers(4, 9) * 60 / STEP_MINUTES)
        end = min(step + window, points)
        progress[step:end] = (np.arange(end - step) + 1) / window
        step = end + int(rng.integers(150, 400))
    return progress


def fan_rows(rng: np.random.Generator, fan: int, start: np.datetime64) -> list[list[object]]:
    """One fan's telemetry: healthy around 600 rpm, degrading towards 400 rpm before each failure."""
    progress = degradation(rng, POINTS_PER_FAN)
    shape = progress**1.5
    rpm = 600 - 200 * shape + rng.normal(0, 18, POINTS_PER_FAN)
    vibration = 0.30 + 0.55 * shape + rng.normal(0, 0.06, POINTS_PER_FAN)
    temperature = 45 + 20 * shape + rng.normal(0, 2.5, POINTS_PER_FAN)
    sound = 60 + 18 * shape + rng.normal(0, 3, POINTS_PER_FAN)
    times = start + np.arange(POINTS_PER_FAN) * np.timedelta64(STEP_MINUTES, "m")
    return [
        [str(t), f"fan-{fan:02d}", round(r, 1), round(v, 3), round(c, 2), round(s, 1), int(p > 0)]
        for t, r, v, c, s, p in zip(times, rpm, vibration, temperature, sound, progress, strict=True)
    ]


def main() -> None:
    """Write the dataset as CSV (20 fans x 1,000 points every 5 minutes)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    start = np.datetime64("2026-01-01T00:00")
    rows = [row for fan in range(FANS) for row in fan_rows(rng, fan, start)]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    positives = sum(int(row[-1]) for row in rows)
    print(f"wrote {len(rows)} points ({positives} labelled failure_soon) to {args.output}")


if __name__ == "__main__":
    main()
