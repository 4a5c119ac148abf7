"""The ingest rules, pure: a submitted reading is accepted into the stream or refused with a reason."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from canopy.contracts import DeadLetter
from canopy.contracts.devices import TelemetryReading
from canopy.errors import CanopyError
from canopy.redaction import scrub_text, scrub_value
from canopy.telemetry.directory import DeviceRecord

INVALID, UNKNOWN_DEVICE, BAD_CREDENTIAL = "invalid", "unknown_device", "bad_credential"


@dataclass(frozen=True)
class Submission:
    """A reading as a device sent it, from a route that authenticated the device (never its credential)."""

    device_id: str
    reading: Any
    at: datetime
    seq: int | None
    source: str


@dataclass(frozen=True)
class Verdict:
    """The outcome: the accepted reading, or the kind of refusal and its reason."""

    reading: TelemetryReading | None = None
    refusal: str = ""
    reason: str = ""

    @property
    def accepted(self) -> bool:
        """Whether the reading was accepted."""
        return self.reading is not None


def unknown(device_id: str) -> Verdict:
    """The refusal of a reading from a device that is not registered."""
    return Verdict(refusal=UNKNOWN_DEVICE, reason=f"no device {device_id!r} is registered")


def authenticate(record: DeviceRecord | None, device_id: str, token: str) -> Verdict | None:
    """A refusal when the device is unknown or the credential is wrong, else None."""
    if record is None:
        return unknown(device_id)
    if not token or not record.verify_token(token):
        return Verdict(refusal=BAD_CREDENTIAL, reason=f"wrong or missing credential for device {device_id!r}")
    return None


def assess(submission: Submission, record: DeviceRecord | None, now: datetime) -> Verdict:
    """Validate an authenticated device's reading against its current type."""
    if record is None:
        return unknown(submission.device_id)
    if not isinstance(submission.reading, dict) or not submission.reading:
        return Verdict(refusal=INVALID, reason="a reading must be a non-empty JSON object of field values")
    try:
        values = record.check_reading(submission.reading)
    except CanopyError as exc:
        return Verdict(refusal=INVALID, reason=scrub_text(exc.message))
    except (ValueError, TypeError) as exc:
        return Verdict(refusal=INVALID, reason=scrub_text(f"{record.device_type}: {exc}"))
    # Every field is checked above (values by the type, the rest by the route), so skip re-validation.
    reading = TelemetryReading.model_construct(
        device_id=submission.device_id,
        device_type=record.device_type,
        reading=values,
        at=submission.at,
        received_at=now,
        seq=submission.seq,
        source=submission.source,
    )
    return Verdict(reading=reading)


def refusal_letter(submission: Submission, verdict: Verdict, group: str) -> DeadLetter:
    """The dead letter of a refused reading: what was sent (credentials scrubbed) and why it was refused."""
    sent = {"device_id": submission.device_id, "reading": submission.reading, "seq": submission.seq}
    payload = json.dumps(scrub_value(sent), default=str)
    return DeadLetter(
        source_topic=f"{submission.source}:{submission.device_id}"[:200],
        partition=-1,
        offset=-1,
        key=submission.device_id[:128],
        group=group,
        reason=f"{verdict.refusal}: {verdict.reason}",
        payload=payload[:65536],
        payload_encoding="utf-8",
    )
