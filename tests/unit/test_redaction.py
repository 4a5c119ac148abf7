"""Credential scrubbing: payloads, texts, dead letters of undecodable records and log records."""

from __future__ import annotations

import json
import logging

from canopy.bus import Record
from canopy.bus.typed import dead_letter_for
from canopy.redaction import REDACTED, RedactingFilter, scrub_payload, scrub_text, scrub_value

SECRET = "cnd_0123456789abcdefABCDEF-_xyz"


def test_values_of_secret_named_keys_and_device_credentials_are_replaced() -> None:
    data = {"device_id": "t1", "token": "abc", "auth": {"Password": "p", "list": [f"x {SECRET} y"]}, "n": 1}
    assert scrub_value(data) == {
        "device_id": "t1",
        "token": REDACTED,
        "auth": {"Password": REDACTED, "list": [f"x {REDACTED} y"]},
        "n": 1,
    }
    assert scrub_text("nothing here") == "nothing here"


def test_payloads_are_scrubbed_whether_json_or_not() -> None:
    assert SECRET not in scrub_payload(json.dumps({"data": {"credential": SECRET}}).encode()).decode()
    assert scrub_payload(b"\xff\x00" + SECRET.encode()) == b"\xff\x00" + REDACTED.encode()
    clean = b'{"a": 1}'
    assert scrub_payload(clean) is clean


def test_a_dead_letter_of_an_undecodable_record_never_keeps_a_credential() -> None:
    raw = json.dumps({"type": "telemetry-submit", "data": {"token": SECRET, "reading": {}}}).encode()
    letter = dead_letter_for(Record("canopy.telemetry.ingest", 0, 5, "t1", raw, 0), "dm", f"bad {SECRET}")
    assert SECRET not in letter.model_dump_json()
    assert json.loads(letter.payload)["data"]["reading"] == {}


def test_log_records_lose_credentials_in_messages_and_tracebacks() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token %s seen", (SECRET,), None)
    assert RedactingFilter().filter(record) and SECRET not in record.getMessage()
    try:
        raise ValueError(SECRET)
    except ValueError as exc:
        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), (ValueError, exc, None))
    RedactingFilter().filter(failed)
    assert SECRET not in logging.Formatter().format(failed)
