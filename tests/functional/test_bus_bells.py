"""SQLite bus wake-ups: a commit rings its topics' bells and wakes exactly the consumers they concern."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

import canopy.bus.sqlite as sqlite_bus
from canopy.bus._sqlite_bell import (
    NEW_TOPIC,
    BellListener,
    Waiter,
    _names,
    bells_dir,
    group_bell,
    ring,
    topic_bell,
)
from canopy.bus._sqlite_consumer import SqliteConsumer
from canopy.bus.base import Consumer
from canopy.bus.sqlite import SqliteBus
from canopy.bus.typed import Subscriber
from canopy.runtime.subscription import SubscriptionLoop


def assert_arrives(consumer: Consumer, value: bytes, within: float, why: str) -> None:
    """Poll (for up to 10 s) a record holding `value`, which must come within `within` seconds."""
    started = time.monotonic()
    record = consumer.poll(10)
    assert record is not None and record.value == value
    assert time.monotonic() - started < within, why


def consumer_calls(monkeypatch: pytest.MonkeyPatch, method: str) -> list[Any]:
    """The first argument of every call SQLite consumers make to `method` from now on, in order."""
    calls: list[Any] = []
    original = getattr(SqliteConsumer, method)
    monkeypatch.setattr(
        SqliteConsumer, method, lambda self, first, *args: calls.append(first) or original(self, first, *args)
    )
    return calls


def test_a_bell_wakes_the_waiters_of_its_topic_or_pattern_and_no_other(tmp_path: Path) -> None:
    listener = BellListener(tmp_path / "bells")
    try:
        assert listener.available
        exact = listener.register(["canopy.telemetry"], "g1")
        pattern = listener.register(["^canopy\\.node-.*"], "g2")
        ring(listener.directory, [topic_bell("canopy.telemetry")])
        assert exact.event.wait(2) and not pattern.event.is_set()
        ring(listener.directory, [topic_bell("canopy.node-status")])
        assert pattern.event.wait(2) and not pattern.resync
        listener.unregister(exact)
        exact.event.clear()
        ring(listener.directory, [topic_bell("canopy.telemetry")])
        time.sleep(0.2)
        assert not exact.event.is_set()
    finally:
        listener.close()


def test_group_and_new_topic_bells_ask_for_a_resync() -> None:
    waiter = Waiter(["a"], "group-1")
    assert not waiter.hears(group_bell("group-2")) and not waiter.resync
    assert waiter.hears(group_bell("group-1")) and waiter.resync
    waiter.resync = False
    assert waiter.hears(NEW_TOPIC) and waiter.resync


def test_an_overflowed_inotify_queue_wakes_everyone() -> None:
    event = b"\x01\x00\x00\x00" + (0x100).to_bytes(4, "little") + bytes(4) + (8).to_bytes(4, "little")
    assert _names(event + b"t.a\0\0\0\0\0") == {"t.a"}
    overflow = b"\xff\xff\xff\xff" + (0x4000).to_bytes(4, "little") + bytes(8)
    assert _names(overflow) is None


def test_a_sleeping_consumer_gets_another_writers_record_long_before_its_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/bus.db"
    reader_bus, writer_bus = SqliteBus(url), SqliteBus(url)  # two buses: two processes' worth of state
    consumer = reader_bus.consumer("readers", ["canopy.topic-a"])
    try:
        assert consumer.poll(0.2) is None
        threading.Timer(0.3, lambda: writer_bus.publish("canopy.topic-a", b"hello")).start()
        assert_arrives(consumer, b"hello", 5, "woken by the bell, not by the end of the poll")
    finally:
        consumer.close()
        reader_bus.close()
        writer_bus.close()


def test_a_new_member_gets_its_partitions_when_the_old_one_hands_them_over(tmp_path: Path) -> None:
    bus = SqliteBus(f"sqlite:///{tmp_path}/bus.db")
    first = bus.consumer("members", ["canopy.topic-b"])
    try:
        first.poll(0.1)
        second = bus.consumer("members", ["canopy.topic-b"])
        reader = threading.Thread(target=first.poll, args=(5,), daemon=True)  # wakes on the join bell
        reader.start()
        for key in map(str, range(30)):
            bus.publish("canopy.topic-b", key.encode(), key=key)
        bus.flush()
        assert second.poll(5) is not None, "the newcomer owns partitions after one bell, not a timeout"
        reader.join(10)
        second.close()
    finally:
        first.close()
        bus.close()


def test_a_consumer_whose_topics_stay_quiet_does_not_read_the_log_on_timed_out_wakes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = SqliteBus(f"sqlite:///{tmp_path}/bus.db")
    quiet = bus.consumer("quiet", ["canopy.quiet"])
    try:
        bus.ensure_topic("canopy.busy")
        assert quiet.poll(0.1) is None  # and its resync for the new topic
        reads = consumer_calls(monkeypatch, "_fetch_partition")
        for n in range(10):  # another topic is busy: the file changes all the time
            bus.publish("canopy.busy", str(n).encode())
            assert quiet.poll(0.02) is None
        assert reads == []
        bus.publish("canopy.quiet", b"news")
        record = quiet.poll(5)
        assert record is not None and record.value == b"news" and "canopy.quiet" in reads
    finally:
        quiet.close()
        bus.close()


def test_a_consumer_of_many_topics_reads_only_the_partitions_of_the_topics_that_rang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = SqliteBus(f"sqlite:///{tmp_path}/bus.db")
    topics = [f"canopy.ingest.device-{n}" for n in range(12)]
    for topic in topics:
        bus.ensure_topic(topic)
    consumer = bus.consumer("ingest", ["^canopy\\.ingest\\..*"])
    try:
        assert consumer.poll(0.3) is None  # caught up, group synced, the new-topic bells heard
        reads = consumer_calls(monkeypatch, "_fetch_partition")
        for n in (3, 7):
            bus.publish(topics[n], f"reading {n}".encode())
            bus.flush()
            record = consumer.poll(5)
            assert record is not None and record.value == f"reading {n}".encode()
            consumer.commit(record)
        assert set(reads) == {topics[3], topics[7]}, "the eleven quiet topics are not read at each wake"
    finally:
        consumer.close()
        bus.close()


def test_a_record_whose_bell_could_not_ring_is_read_at_the_next_group_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = SqliteBus(f"sqlite:///{tmp_path}/bus.db?session_timeout=1.5")  # a group sync every 0.5 s
    consumer = bus.consumer("deaf", ["canopy.deaf"])
    try:
        assert consumer.poll(0.1) is None
        monkeypatch.setattr(sqlite_bus, "ring", lambda directory, names: None)
        bus.publish("canopy.deaf", b"unannounced")
        bus.flush()
        assert_arrives(consumer, b"unannounced", 2, "read at the group's next sync, not at the poll's end")
    finally:
        consumer.close()
        bus.close()


def test_a_waiting_poll_woken_from_another_thread_returns_at_once(tmp_path: Path) -> None:
    bus = SqliteBus(f"sqlite:///{tmp_path}/bus.db")
    consumer = bus.consumer("waiting", ["canopy.topic-c"])
    try:
        threading.Timer(0.2, consumer.wake).start()
        started = time.monotonic()
        assert consumer.poll(30) is None
        assert time.monotonic() - started < 2, "wake() ends the poll, not its 30 s timeout"
    finally:
        consumer.close()
        bus.close()


def test_an_idle_subscription_loop_polls_rarely_and_stops_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = SqliteBus(f"sqlite:///{tmp_path}/bus.db")
    polls = consumer_calls(monkeypatch, "poll")
    loop = SubscriptionLoop(
        "idle-loop", lambda: Subscriber(bus, "idle-group", ["canopy.topic-d"], lambda envelope, record: None)
    )
    loop.start()
    try:
        time.sleep(2)
        assert len(polls) == 1, "one poll waits through the quiet (each wake-up costs CPU)"
    finally:
        started = time.monotonic()
        loop.stop()
        assert time.monotonic() - started < 1, "stop() wakes the waiting poll"
        bus.close()


def test_a_bell_heard_after_a_read_of_another_topic_still_brings_its_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = SqliteBus(f"sqlite:///{tmp_path}/bus.db")
    consumer = bus.consumer("late", ["canopy.early", "canopy.late"])
    try:
        assert consumer.poll(0.3) is None
        ring = sqlite_bus.ring
        late_bell = topic_bell("canopy.late")
        monkeypatch.setattr(
            sqlite_bus, "ring", lambda directory, names: ring(directory, [n for n in names if n != late_bell])
        )
        bus.publish("canopy.early", b"first")
        bus.publish("canopy.late", b"second")  # one commit; its second bell reaches the consumer late
        bus.flush()
        assert_arrives(consumer, b"first", 5, "woken by the first bell")
        ring(bells_dir(tmp_path / "bus.db"), [late_bell])
        assert_arrives(consumer, b"second", 2, "the late bell is not mistaken for news already read")
    finally:
        consumer.close()
        bus.close()
