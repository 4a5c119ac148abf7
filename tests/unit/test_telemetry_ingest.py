"""The ingest rules: authentication, validation against the current type, refusals and the wire format."""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from canopy.contracts import decode, encode
from canopy.devices.instances import credential_digest as token_digest
from canopy.devices.schema import parse_type
from canopy.devices.validation import validate_command, validate_reading
from canopy.telemetry.directory import CachedDirectory, DeviceRecord, MemoryDirectory
from canopy.telemetry.ingest import (
    BAD_CREDENTIAL,
    INVALID,
    UNKNOWN_DEVICE,
    Submission,
    assess,
    authenticate,
    refusal_letter,
)
from canopy.telemetry.metrics import UNKNOWN, counted_device
from canopy.telemetry.mqtt import parse_topic, submission_from_payload, telemetry_payload, topic_for

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
TEMP = parse_type(
    {
        "name": "TEMP",
        "kind": "sensor",
        "fields": {"temperature": {"type": "float", "minimum": -40, "maximum": 125}},
    }
)
TOKEN = "cnd_secret"


def record(spec: Any = TEMP, token: str = TOKEN) -> DeviceRecord:
    return DeviceRecord(
        device_id="t1",
        device_type=spec.name,
        kind=spec.kind,
        transport="mqtt",
        token_hash=token_digest(token),
        check_reading=lambda reading: validate_reading(spec, reading),
        check_command=lambda command, params: validate_command(spec, command, params),
    )


def submit(reading: Any, device_id: str = "t1") -> Submission:
    return Submission(device_id, reading, NOW, 7, "mqtt")


def test_a_good_reading_is_accepted_normalised_and_stamped() -> None:
    verdict = assess(submit({"temperature": 21}), record(), NOW)
    assert verdict.accepted and verdict.reading is not None
    assert verdict.reading.reading == {"temperature": 21.0}
    assert (verdict.reading.device_type, verdict.reading.seq, verdict.reading.source) == ("TEMP", 7, "mqtt")
    assert decode(encode(verdict.reading)).message == verdict.reading


@pytest.mark.parametrize(
    ("reading", "reason"),
    [
        ({"temperature": "hot"}, "expected a number"),
        ({"temperature": 500}, "above the maximum"),
        ({}, "non-empty JSON object"),
        ({"temperature": 20, "humidity": 3}, "unknown field"),
        ([1, 2], "non-empty JSON object"),
        (None, "non-empty JSON object"),
    ],
)
def test_a_bad_reading_is_refused_as_invalid_with_the_reason(reading: Any, reason: str) -> None:
    verdict = assess(submit(reading), record(), NOW)
    assert not verdict.accepted
    assert verdict.refusal == INVALID and reason in verdict.reason


def test_unknown_devices_and_wrong_credentials_are_refused() -> None:
    assert assess(submit({"temperature": 1}), None, NOW).refusal == UNKNOWN_DEVICE
    assert authenticate(None, "t1", TOKEN) == assess(submit({"temperature": 1}), None, NOW)
    refused = [authenticate(record(), "t1", token) for token in ("wrong", "")]
    assert [verdict.refusal for verdict in refused if verdict] == [BAD_CREDENTIAL, BAD_CREDENTIAL]
    assert authenticate(record(), "t1", TOKEN) is None


def test_a_credential_echoed_in_a_refusal_reason_is_scrubbed() -> None:
    def echo(reading: dict[str, Any]) -> dict[str, Any]:
        raise ValueError(f"bad value {reading['temperature']!r}")

    verdict = assess(submit({"temperature": TOKEN + "_long"}), replace(record(), check_reading=echo), NOW)
    assert verdict.refusal == INVALID and "cnd_" not in verdict.reason


def test_the_current_type_decides() -> None:
    stricter = parse_type(
        {"name": "TEMP", "kind": "sensor", "fields": {"temperature": {"type": "float", "maximum": 10}}}
    )
    assert assess(submit({"temperature": 20}), record(), NOW).accepted
    assert assess(submit({"temperature": 20}), record(stricter), NOW).refusal == INVALID


def test_a_refusal_letter_names_the_reason_and_never_carries_the_credential() -> None:
    submission = submit({"temperature": "x", "token": "s3cret", "note": f"mine is {TOKEN}"})
    verdict = assess(submission, record(), NOW)
    letter = refusal_letter(submission, verdict, "device_manager")
    assert letter.reason.startswith("invalid: ") and letter.source_topic == "mqtt:t1"
    assert TOKEN not in letter.payload and "s3cret" not in letter.payload
    assert json.loads(letter.payload)["seq"] == 7


def test_unknown_ids_share_one_counter() -> None:
    assert counted_device("t1", INVALID) == "t1"
    assert counted_device("random-1", UNKNOWN_DEVICE) == UNKNOWN


def test_the_cache_sees_type_changes_after_its_ttl() -> None:
    now = [0.0]
    inner = MemoryDirectory([record()])
    cached = CachedDirectory(inner, ttl=1.0, clock=lambda: now[0])
    assert cached.find("t1") is not None and cached.find("nope") is None
    inner.add(DeviceRecord("nope", "TEMP", "sensor", "http", token_digest("x")))
    assert cached.find("nope") is None
    now[0] = 1.5
    assert cached.find("nope") is not None


def test_mqtt_topics_and_payloads_round_trip() -> None:
    assert topic_for("t1", "telemetry") == "canopy/devices/t1/telemetry"
    assert parse_topic("canopy/devices/t1/state") == ("t1", "state")
    for bad in ("canopy/devices//telemetry", "canopy/devices/t1/other", "x/devices/t1/telemetry", "a/b"):
        assert parse_topic(bad) is None
    payload = telemetry_payload({"temperature": 2.5}, NOW, 3)
    assert b"token" not in payload
    submission = submission_from_payload("t1", payload)
    assert submission == Submission("t1", {"temperature": 2.5}, NOW, 3, "mqtt")


def test_an_old_payload_with_a_credential_is_accepted_and_the_credential_dropped() -> None:
    old = json.dumps({"token": TOKEN, "reading": {"temperature": 2.5}, "at": NOW.isoformat(), "seq": 3})
    submission = submission_from_payload("t1", old.encode())
    assert submission == Submission("t1", {"temperature": 2.5}, NOW, 3, "mqtt")
    assert TOKEN not in repr(submission) and assess(submission, record(), NOW).accepted


@pytest.mark.parametrize("payload", [b"not json", b"[1]", b'{"reading": "hot"}', b"\xff"])
def test_malformed_mqtt_payloads_are_refused(payload: bytes) -> None:
    submission = submission_from_payload("t1", payload, now=NOW)
    assert submission.at == NOW
    assert not assess(submission, record(), NOW).accepted


def test_bad_sequence_numbers_and_times_are_ignored() -> None:
    raw = json.dumps({"token": TOKEN, "reading": {"temperature": 1}, "seq": -4, "at": "yesterday"}).encode()
    submission = submission_from_payload("t1", raw, now=NOW)
    assert submission.seq is None and submission.at == NOW


def test_a_background_cache_serves_the_stale_record_while_refreshing() -> None:
    now = [0.0]
    inner = MemoryDirectory([record()])
    cached = CachedDirectory(inner, ttl=1.0, clock=lambda: now[0], background=True)
    first = cached.find("t1")
    inner.add(DeviceRecord("t1", "TEMP2", "sensor", "http", token_digest("x")))
    now[0] = 2.0
    assert cached.find("t1") is first
    deadline = time.monotonic() + 5
    while (found := cached.find("t1")) is first and time.monotonic() < deadline:
        time.sleep(0.01)
    assert found is not None and found.device_type == "TEMP2"


class CountingDirectory(MemoryDirectory):
    """A directory that notes each batch of ids it is asked for."""

    def __init__(self, records: list[DeviceRecord]) -> None:
        super().__init__(records)
        self.batches: list[set[str]] = []

    def find_many(self, device_ids: Collection[str]) -> dict[str, DeviceRecord | None]:
        """Note the batch, then answer it."""
        self.batches.append(set(device_ids))
        return super().find_many(device_ids)


def test_a_background_refresh_looks_up_the_fleet_past_half_its_ttl_in_one_batch() -> None:
    now = [0.0]
    fleet = [replace(record(), device_id=f"d{i}") for i in range(6)]
    inner = CountingDirectory(fleet)
    cached = CachedDirectory(inner, ttl=1.0, clock=lambda: now[0], background=True)
    for device in fleet[:4]:
        cached.find(device.device_id)
    now[0] = 0.3
    cached.find("d4")  # 0.8 s old at the refresh: past half its ttl, refreshed with the others
    now[0] = 0.8
    cached.find("d5")  # 0.3 s old at the refresh: left for later
    now[0] = 1.1
    inner.batches.clear()
    cached.find("d0")
    deadline = time.monotonic() + 5
    while not inner.batches and time.monotonic() < deadline:
        time.sleep(0.01)
    assert inner.batches == [{"d0", "d1", "d2", "d3", "d4"}]
    now[0] = 1.2
    cached.find("d4")
    assert inner.batches == [{"d0", "d1", "d2", "d3", "d4"}]  # fresh again: no second lookup
