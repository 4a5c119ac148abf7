"""Prometheus counters of the telemetry path, declared once for every service in the process."""

from __future__ import annotations

from prometheus_client import Counter

ACCEPTED = Counter("canopy_telemetry_accepted_total", "Readings accepted into device streams", ["source"])
REFUSED = Counter(
    "canopy_telemetry_refused_total",
    "Readings refused, by kind (invalid, unknown_device, bad_credential), device and route",
    ["kind", "device", "source"],
)
UNKNOWN = "(unknown)"


def counted_device(device_id: str, kind: str) -> str:
    """The device a refusal is counted under: unknown ids share one counter so they cannot flood it."""
    return UNKNOWN if kind == "unknown_device" else device_id
