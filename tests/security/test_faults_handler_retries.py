"""On the embedded bus a failing handler is retried, then dead-lettered with a reason; nothing is skipped."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from canopy.bus import Record, open_bus
from canopy.bus.typed import Subscriber, failure_reason
from canopy.contracts import DeadLetter, Heartbeat, decode, encode, topics
from canopy.errors import Unavailable


def _beat(seq: int) -> bytes:
    """An encoded heartbeat numbered seq."""
    return encode(Heartbeat(service="s", instance="i", seq=seq, interval=1.0, started_at=datetime.now(UTC)))


def test_a_dead_letter_that_cannot_be_written_keeps_the_record_until_it_can(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = open_bus(f"sqlite:///{tmp_path}/bus.db")
    for seq in range(2):
        bus.publish("work", _beat(seq), key="k")
    seen: list[int] = []

    def handler(envelope: Any, _record: Record) -> None:
        seen.append(envelope.message.seq)
        if envelope.message.seq == 0:
            raise ValueError("bad reading")

    subscriber = Subscriber(bus, "workers", ["work"], handler, retry_delays=(0.01,))
    publish = bus.publish

    def dead_letter_store_down(topic: str, value: bytes, *args: Any, **kwargs: Any) -> None:
        if topic == topics.DEADLETTER:
            raise Unavailable("dead-letter topic unavailable")
        publish(topic, value, *args, **kwargs)

    monkeypatch.setattr(bus, "publish", dead_letter_store_down)
    with pytest.raises(Unavailable):
        subscriber.run_once(1.0)
    monkeypatch.setattr(bus, "publish", publish)
    assert subscriber.run_once(1.0) and subscriber.run_once(1.0)
    assert seen == [0, 0, 0, 0, 1], "record 0 is handled again before record 1, never skipped"
    subscriber.close()
    letters = bus.consumer("reader", [topics.DEADLETTER])
    record = letters.poll(2.0)
    assert record is not None
    letter = decode(record.value).message
    assert isinstance(letter, DeadLetter) and letter.offset == 0
    assert letter.reason == "handler failed 2 time(s): ValueError: bad reading"
    letters.close()
    bus.close()


def test_failure_reasons_mask_credentials() -> None:
    reason = failure_reason(
        ConnectionError("postgresql://canopy:hunter2@db/canopy refused; AccountKey=abc123; token: t0k"), 4
    )
    assert "hunter2" not in reason and "abc123" not in reason and "t0k" not in reason
    assert reason.startswith("handler failed 4 time(s): ConnectionError: postgresql://[redacted]@db/canopy")
