"""Prometheus counters of the telemetry path, declared once for every service in the process."""

from __future__ import annotations

import logging

from prometheus_client import Counter

from canopy.bus import Bus
from canopy.bus.typed import publish
from canopy.eventsummary import SummarizedLog
from canopy.telemetry.ingest import Submission, Verdict, refusal_letter

log = logging.getLogger(__name__)

ACCEPTED = Counter("canopy_telemetry_accepted_total", "Readings accepted into device streams", ["source"])
REFUSED = Counter(
    "canopy_telemetry_refused_total",
    "Readings refused, by kind (invalid, unknown_device, bad_credential), device and route",
    ["kind", "device", "source"],
)
UNKNOWN = "(unknown)"
# one line per route, device and kind of refusal every 10 s: a backlog of bad readings is a few lines
REFUSAL_LOG = SummarizedLog(log, logging.INFO)


def counted_device(device_id: str, kind: str) -> str:
    """The device a refusal is counted under: unknown ids share one counter so they cannot flood it."""
    return UNKNOWN if kind == "unknown_device" else device_id


def report_refusal(bus: Bus, submission: Submission, verdict: Verdict, group: str) -> str:
    """Dead-letter a refused reading (without its credential) and count it; return the device counted."""
    device = counted_device(submission.device_id, verdict.refusal)
    REFUSAL_LOG.event(
        (submission.source, device, verdict.refusal),
        f"refused {submission.source} reading of {submission.device_id}: {verdict.reason}",
    )
    publish(bus, refusal_letter(submission, verdict, group), key=submission.device_id)
    REFUSED.labels(verdict.refusal, device, submission.source).inc()
    return device
