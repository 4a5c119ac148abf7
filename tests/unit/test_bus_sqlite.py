"""The SQLite bus on a temporary file: partitioning, group assignment, eviction and handover."""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from canopy.bus import Consumer, Record, sqlite
from canopy.bus._sqlite_group import assign
from canopy.bus.sqlite import SqliteBus
from canopy.errors import BadRequest, PayloadTooLarge

SESSION_TIMEOUT = 0.5


@pytest.fixture()
def bus(tmp_path: Path) -> Iterator[SqliteBus]:
    opened = SqliteBus(f"sqlite:///{tmp_path}/bus.db?session_timeout={SESSION_TIMEOUT}", partitions=3)
    yield opened
    opened.close()


def take(consumer: Consumer, count: int, timeout: float = 5.0) -> list[Record]:
    records: list[Record] = []
    deadline = time.monotonic() + timeout
    while len(records) < count and time.monotonic() < deadline:
        record = consumer.poll(0.05)
        if record is not None:
            records.append(record)
    return records


def test_assign_spreads_partitions_round_robin_over_sorted_members() -> None:
    assignment = assign({"b": ["t"], "a": ["t"]}, {"t": 5})
    assert assignment == {"a": {("t", 0), ("t", 2), ("t", 4)}, "b": {("t", 1), ("t", 3)}}


def test_assign_gives_a_topic_only_to_its_subscribers_and_balances_across_topics() -> None:
    assignment = assign({"a": ["t", "u"], "b": ["t"], "c": ["v"]}, {"t": 1, "u": 1, "v": 2, "w": 4})
    assert assignment == {"a": {("u", 0)}, "b": {("t", 0)}, "c": {("v", 0), ("v", 1)}}


def test_keyed_messages_go_to_the_crc32_partition_and_keyless_ones_rotate(bus: SqliteBus) -> None:
    for key in ("alpha", "beta", "gamma"):
        bus.publish("t", b"keyed", key=key)
    for _ in range(3):
        bus.publish("t", b"keyless")
    consumer = bus.consumer("g", ["t"])
    records = take(consumer, 6)
    consumer.close()
    for record in records:
        if record.key is not None:
            assert record.partition == zlib.crc32(record.key.encode()) % 3
    assert sorted(record.partition for record in records if record.key is None) == [0, 1, 2]


def test_a_message_is_visible_within_milliseconds_without_flush(bus: SqliteBus) -> None:
    consumer = bus.consumer("g", ["t"])
    started = time.monotonic()
    bus.publish("t", b"now")
    record = consumer.poll(1.0)
    consumer.close()
    assert record is not None and record.value == b"now"
    assert time.monotonic() - started < 0.1


def test_an_existing_topic_keeps_its_partition_count(tmp_path: Path, bus: SqliteBus) -> None:
    bus.ensure_topic("t", partitions=5)
    other = SqliteBus(f"sqlite:///{tmp_path}/bus.db", partitions=2)
    other.ensure_topic("t")
    for n in range(20):
        other.publish("t", b"x", key=str(n))
    other.close()
    consumer = bus.consumer("g", ["t"])
    assert {record.partition for record in take(consumer, 20)} == {0, 1, 2, 3, 4}
    consumer.close()


def test_a_closed_member_hands_its_partitions_over_at_once(bus: SqliteBus) -> None:
    first = bus.consumer("g", ["t"])
    second = bus.consumer("g", ["t"])
    first.close()
    for n in range(30):
        bus.publish("t", str(n).encode(), key=str(n))
    started = time.monotonic()
    assert len(take(second, 30)) == 30
    assert time.monotonic() - started < SESSION_TIMEOUT
    second.close()


def test_a_silent_member_is_evicted_and_its_uncommitted_records_redelivered(bus: SqliteBus) -> None:
    silent = bus.consumer("g", ["t"])
    for n in range(10):
        bus.publish("t", str(n).encode(), key=str(n))
    handled = take(silent, 10)
    for record in handled[:4]:
        silent.commit(record)
    successor = bus.consumer("g", ["t"])
    redelivered = take(successor, 6, timeout=SESSION_TIMEOUT * 6)
    assert {record.value for record in redelivered} == {record.value for record in handled[4:]}
    silent.commit(handled[5])  # too late: the partition is the successor's now, so this is ignored
    successor.close()
    fresh = bus.consumer("g", ["t"])
    assert {record.value for record in take(fresh, 6)} == {record.value for record in handled[4:]}
    for consumer in (silent, fresh):
        consumer.close()


def test_bad_topic_names_and_oversized_values_are_refused(bus: SqliteBus) -> None:
    with pytest.raises(BadRequest):
        bus.publish("bad/topic", b"x")
    with pytest.raises(PayloadTooLarge):
        bus.publish("t", b"x" * (9 * 1024 * 1024))


def test_messages_past_retention_are_pruned_but_offsets_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite, "PRUNE_INTERVAL", 0.0)
    bus = SqliteBus(f"sqlite:///{tmp_path}/bus.db?retention_hours=0.0001")  # 0.36 s
    bus.ensure_topic("t", partitions=1)
    for n in range(5):
        bus.publish("t", str(n).encode())
    bus.flush()
    time.sleep(0.5)
    bus.publish("other", b"x")  # each write is followed by a prune ...
    bus.flush()
    bus.publish("other", b"y")  # ... which has finished once the next write is flushed
    bus.flush()
    consumer = bus.consumer("g", ["t"])
    assert [(record.offset, record.value) for record in take(consumer, 2, timeout=0.5)] == [(4, b"4")]
    bus.publish("t", b"5")
    assert [(record.offset, record.value) for record in take(consumer, 1)] == [(5, b"5")]
    consumer.close()
    bus.close()
