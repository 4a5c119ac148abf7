"""Accept or refuse submitted readings: publish good ones to the stream, dead-letter and count the rest."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime

from canopy.bus import Bus
from canopy.contracts import topics
from canopy.contracts.devices import TelemetryReading
from canopy.telemetry.directory import DeviceDirectory
from canopy.telemetry.ingest import Submission, Verdict, assess
from canopy.telemetry.metrics import ACCEPTED, report_refusal
from canopy.telemetry.storage import LatestWriter

log = logging.getLogger(__name__)

GROUP = "device_manager"


def now_utc() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def encode_reading(reading: TelemetryReading) -> bytes:
    """The same envelope canopy.contracts.encode writes, serialised by pydantic's core (the hot path)."""
    head = f'"type":"{reading.TYPE}","version":{reading.VERSION},"id":"{os.urandom(16).hex()}"'
    return f'{{{head},"sent_at":"{now_utc().isoformat()}","data":{reading.model_dump_json()}}}'.encode()


class TelemetryProcessor:
    """The one place where readings from every route are judged, published and counted."""

    def __init__(
        self,
        bus: Bus,
        directory: DeviceDirectory,
        writer: LatestWriter,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self.bus = bus
        self.directory = directory
        self.writer = writer
        self.clock = clock

    def handle(self, submission: Submission) -> Verdict:
        """Judge one submission; publish it to the device's stream or refuse it."""
        verdict = assess(submission, self.directory.find(submission.device_id), self.clock())
        if verdict.reading is not None:
            self.bus.publish(
                topics.DEVICE_TELEMETRY, encode_reading(verdict.reading), key=submission.device_id
            )
            self.writer.keep(verdict.reading)
            ACCEPTED.labels(submission.source).inc()
        else:
            self.refuse(submission, verdict)
        self.writer.flush_if_due()
        return verdict

    def refuse(self, submission: Submission, verdict: Verdict) -> None:
        """Send a refused reading to the dead letter with the reason, and count it for the device."""
        device = report_refusal(self.bus, submission, verdict, GROUP)
        self.writer.refuse(device, verdict.refusal, verdict.reason)
