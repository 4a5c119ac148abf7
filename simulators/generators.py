"""Sensor readings as pure functions of a seeded random source and the time since the device started."""

from __future__ import annotations

import base64
import math
import random
from collections.abc import Callable
from typing import Any

from simulators.images import frame

Reading = dict[str, Any]
Generator = Callable[[random.Random, float, int, dict[str, Any]], Reading]


def _wave(t: float, period: float) -> float:
    """A sine wave of the given period, between -1 and 1."""
    return math.sin(2 * math.pi * t / period)


def temperature(rng: random.Random, t: float, _n: int, options: dict[str, Any]) -> Reading:
    """Air temperature around `base` (22 °C) with a slow wave and noise."""
    base = float(options.get("base", 22.0))
    return {"temperature": round(base + 3 * _wave(t, 300) + rng.gauss(0, 0.2), 2)}


def pressure(rng: random.Random, t: float, _n: int, options: dict[str, Any]) -> Reading:
    """Barometric pressure around 1013 hPa."""
    base = float(options.get("base", 1013.0))
    return {"pressure": round(base + 4 * _wave(t, 900) + rng.gauss(0, 0.3), 2)}


def light(rng: random.Random, t: float, _n: int, options: dict[str, Any]) -> Reading:
    """Illuminance following a compressed day (`day` seconds long), never negative."""
    day = float(options.get("day", 600.0))
    return {"illuminance": round(max(0.0, 500 + 450 * _wave(t, day) + rng.gauss(0, 10)), 1)}


def failure_progress(t: float, options: dict[str, Any]) -> float:
    """0 while healthy, rising to 1 over `fail_over` seconds from `fail_at` (no failure without it)."""
    fail_at = options.get("fail_at")
    if fail_at is None:
        return 0.0
    span = max(1e-9, float(options.get("fail_over", 120.0)))
    return min(1.0, max(0.0, (t - float(fail_at)) / span))


def turbine_fan(rng: random.Random, t: float, _n: int, options: dict[str, Any]) -> Reading:
    """Seed 001 on the fan-anomaly model's training scales: rpm ~600, falling towards 400 on failure."""
    p = failure_progress(t, options)
    return {
        "rpm": round(rng.gauss(600 - 200 * p, 8), 1),
        "vibration": round(max(0.0, rng.gauss(0.30 + 0.55 * p, 0.04)), 3),
        "temperature": round(rng.gauss(45 + 20 * p, 0.8), 1),
        "sound": round(rng.gauss(60 + 18 * p, 1.5), 1),
    }


def vitals(rng: random.Random, t: float, _n: int, options: dict[str, Any]) -> Reading:
    """Seed 000: heart rate, SpO2 and blood pressure; `fail_at`/`fail_over` make the patient deteriorate."""
    p = failure_progress(t, options)
    return {
        "heart_rate": round(rng.gauss(72 + 50 * p, 2)),
        "spo2": round(min(100.0, rng.gauss(97.5 - 10 * p, 0.5)), 1),
        "systolic": round(rng.gauss(118 - 30 * p, 3)),
        "diastolic": round(rng.gauss(78 - 20 * p, 2)),
    }


def _b64(data: bytes) -> str:
    """Bytes as base64 text."""
    return base64.b64encode(data).decode("ascii")


def image(_rng: random.Random, _t: float, n: int, options: dict[str, Any]) -> Reading:
    """One camera frame as a base64 PNG."""
    return {
        "image": _b64(frame(n, int(options.get("width", 64)), int(options.get("height", 48)))),
        "frame": n,
    }


def burst(_rng: random.Random, _t: float, n: int, options: dict[str, Any]) -> Reading:
    """A burst of `burst` frames (default 4) taken back to back; `image` is the last one."""
    count = int(options.get("burst", 4))
    frames = [_b64(frame(n * count + i, 32, 24)) for i in range(count)]
    return {"images": frames, "image": frames[-1], "frame": n * count + count - 1}


GENERATORS: dict[str, Generator] = {
    "TEMP": temperature,
    "PRESSURE": pressure,
    "LIGHT_SENSOR": light,
    "TURBINE_FAN": turbine_fan,
    "PATIENT_VITALS": vitals,
    "IMAGE": image,
    "BURSTIMAGE": burst,
}
