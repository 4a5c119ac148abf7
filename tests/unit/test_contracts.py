from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from canopy.contracts import Heartbeat, Message, contract, decode, encode, registered_types, topics
from canopy.errors import DecodeError


def _beat() -> Heartbeat:
    return Heartbeat(service="gateway", instance="gw-1", seq=3, interval=2.0, started_at=datetime.now(UTC))


def test_round_trip_keeps_type_and_fields() -> None:
    envelope = decode(encode(_beat(), message_id="abc"))
    assert envelope.message_id == "abc"
    assert envelope.message == _beat().model_copy(update={"started_at": envelope.message.started_at})
    assert isinstance(envelope.message, Heartbeat)


def test_every_contract_travels_on_a_canopy_topic() -> None:
    for message_type, version, topic in registered_types():
        assert topic.startswith("canopy.") and version >= 1
        assert re.fullmatch(r"[a-z]+(-[a-z]+)+", message_type), message_type


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "envelope"),
        (b'{"type": "heartbeat-beat"}', "lacks"),
        (
            json.dumps(
                {"type": "nope", "version": 1, "id": "x", "sent_at": "2026-01-01T00:00:00+00:00", "data": {}}
            ).encode(),
            "unknown message type 'nope'",
        ),
        (
            json.dumps(
                {
                    "type": "heartbeat-beat",
                    "version": 1,
                    "id": "x",
                    "sent_at": "2026-01-01T00:00:00+00:00",
                    "data": {
                        "service": "",
                        "instance": "i",
                        "seq": -1,
                        "interval": 1,
                        "started_at": "2026-01-01T00:00:00+00:00",
                    },
                }
            ).encode(),
            "seq",
        ),
    ],
)
def test_bad_payloads_are_refused_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode(payload)


def test_a_contract_cannot_be_declared_twice() -> None:
    with pytest.raises(ValueError, match="declared twice"):

        @contract("heartbeat-beat", topic=topics.HEARTBEAT)
        class Again(Message):
            pass


def test_unregistered_messages_cannot_be_encoded() -> None:
    class Stray(Message):
        pass

    with pytest.raises(TypeError):
        encode(Stray())
