"""One contract, two drivers: the bus behaves the same on sqlite:// and on a real Kafka broker."""

from __future__ import annotations

import hashlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from canopy.bus import Bus, Consumer, Credentials, Record, open_bus
from canopy.bus.typed import Subscriber
from canopy.contracts import DeadLetter, Heartbeat, Message, decode, encode, topics
from canopy.errors import BadRequest, NoSuchDriver, StoreUnavailable, Unavailable
from tests.conftest import KAFKA_PORT, port_open, require

MEMBER_SCRIPT = Path(__file__).with_name("bus_member.py")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(180)


@dataclass(frozen=True)
class Names:
    """Topic and group names unique to one test run, so reruns against one broker never collide."""

    topic: str
    group: str


@pytest.fixture(params=["sqlite", pytest.param("kafka", marks=pytest.mark.kafka)])
def bus_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A bus URL with a short session timeout: a fresh SQLite file, or the real broker."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/bus.db?session_timeout=2"
    kafka_url: str = request.getfixturevalue("kafka_url")
    return f"{kafka_url}?session_timeout=6"


@pytest.fixture()
def login(bus_url: str, request: pytest.FixtureRequest) -> Credentials | None:
    """The platform's Kafka login on the real broker; none on SQLite."""
    if bus_url.startswith("sqlite"):
        return None
    credentials: Credentials = request.getfixturevalue("kafka_platform")
    return credentials


@pytest.fixture()
def bus(bus_url: str, login: Credentials | None) -> Iterator[Bus]:
    """An opened bus, closed after the test."""
    opened = open_bus(bus_url, credentials=login)
    yield opened
    opened.close()


@pytest.fixture()
def names(request: pytest.FixtureRequest) -> Names:
    """Unique names derived from the test's name."""
    stem = request.node.originalname.removeprefix("test_").replace("_", "-")[:40]
    suffix = uuid.uuid4().hex[:10]
    return Names(topic=f"{stem}-{suffix}", group=f"{stem}-group-{suffix}")


def drain(consumer: Consumer, count: int, timeout: float = 60.0, *, commit: bool = True) -> list[Record]:
    """Poll until `count` records arrived or `timeout` passed, committing each one."""
    records: list[Record] = []
    deadline = time.monotonic() + timeout
    while len(records) < count and time.monotonic() < deadline:
        record = consumer.poll(min(0.5, max(0.0, deadline - time.monotonic())))
        if record is not None:
            records.append(record)
            if commit:
                consumer.commit(record)
    return records


def pump(process: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    """Copy a subprocess's output lines into a queue, so the test can wait for them with a timeout."""
    for line in process.stdout or []:
        lines.put(line.strip())


def values(records: list[Record]) -> list[str]:
    """The records' values as text."""
    return [record.value.decode() for record in records]


def test_publish_and_consume(bus: Bus, names: Names) -> None:
    for n in range(10):
        bus.publish(names.topic, f"m{n}".encode(), key=f"k{n}", headers={"n": str(n)})
    bus.flush()
    consumer = bus.consumer(names.group, [names.topic])
    try:
        records = drain(consumer, 10)
    finally:
        consumer.close()
    assert sorted(values(records)) == sorted(f"m{n}" for n in range(10))
    for record in records:
        number = record.value.decode()[1:]
        assert (record.topic, record.key, record.headers) == (names.topic, f"k{number}", {"n": number})
        assert record.timestamp_ms > 0


def test_new_group_from_latest_skips_earlier_messages(bus: Bus, names: Names) -> None:
    bus.publish(names.topic, b"before", key="a")
    bus.flush()
    time.sleep(0.05)
    consumer = bus.consumer(names.group, [names.topic], from_beginning=False)
    try:
        time.sleep(0.05)
        bus.publish(names.topic, b"after", key="a")
        bus.flush()
        records = drain(consumer, 1)
        records += drain(consumer, 1, timeout=1.0)
    finally:
        consumer.close()
    assert values(records) == ["after"]


def test_committed_records_are_not_delivered_again_to_the_group(bus: Bus, names: Names) -> None:
    for n in range(6):
        bus.publish(names.topic, str(n).encode(), key=str(n))
    bus.flush()
    first = bus.consumer(names.group, [names.topic])
    try:
        handled = drain(first, 6)
    finally:
        first.close()
    bus.publish(names.topic, b"6", key="6")
    bus.flush()
    second = bus.consumer(names.group, [names.topic])
    try:
        later = drain(second, 1)
        later += drain(second, 1, timeout=2.0)
    finally:
        second.close()
    assert sorted(values(handled)) == [str(n) for n in range(6)]
    assert values(later) == ["6"]


def test_two_members_of_a_group_share_the_partitions(bus: Bus, names: Names) -> None:
    bus.ensure_topic(names.topic, partitions=4)
    members = [bus.consumer(names.group, [names.topic]) for _ in range(2)]
    received: list[list[str]] = [[], []]
    published = 0
    deadline = time.monotonic() + 90
    try:
        # Publish in rounds until both members have had a share: a Kafka group takes seconds to settle,
        # and until then the first member may hold every partition.
        while not (all(received) and published >= 100) and time.monotonic() < deadline:
            for n in range(published, published + 20):
                bus.publish(names.topic, str(n).encode(), key=f"key-{n}")
            published += 20
            bus.flush()
            for member, got in zip(members, received, strict=True):
                got += values(drain(member, 20, timeout=0.2))
        while sum(map(len, received)) < published and time.monotonic() < deadline:
            for member, got in zip(members, received, strict=True):
                got += values(drain(member, published, timeout=0.5))
    finally:
        for member in members:
            member.close()
    both = received[0] + received[1]
    assert all(received), f"one member received nothing: {[len(got) for got in received]}"
    assert len(both) == len(set(both)), "a record was delivered twice"
    assert sorted(both, key=int) == [str(n) for n in range(published)]


def test_records_of_a_killed_member_go_to_another_member(
    bus: Bus, bus_url: str, login: Credentials | None, names: Names
) -> None:
    logins = (
        {"CANOPY_KAFKA_USERNAME": login.username, "CANOPY_KAFKA_PASSWORD": login.password} if login else {}
    )
    member = subprocess.Popen(
        [sys.executable, str(MEMBER_SCRIPT), bus_url, names.group, names.topic],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, **logins, "PYTHONPATH": str(ROOT)},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=pump, args=(member, lines), daemon=True).start()
    try:
        assert lines.get(timeout=30) == "joined"
        for n in range(20):
            bus.publish(names.topic, str(n).encode(), key=f"key-{n}")
        bus.flush()
        seen_by_killed = {lines.get(timeout=60) for _ in range(20)}
    finally:
        member.send_signal(signal.SIGKILL)
        member.wait(timeout=10)
    assert seen_by_killed == {str(n) for n in range(20)}
    successor = bus.consumer(names.group, [names.topic])
    try:
        redelivered = drain(successor, 20, timeout=60)
    finally:
        successor.close()
    assert sorted(values(redelivered), key=int) == [str(n) for n in range(20)]


def test_each_key_keeps_its_order(bus: Bus, names: Names) -> None:
    keys, per_key = 20, 25
    for n in range(keys * per_key):
        bus.publish(names.topic, f"{n % keys}:{n // keys}".encode(), key=f"device-{n % keys}")
    bus.flush()
    consumer = bus.consumer(names.group, [names.topic])
    try:
        records = drain(consumer, keys * per_key)
    finally:
        consumer.close()
    sequences: dict[str, list[int]] = {}
    for record in records:
        key, seq = record.value.decode().split(":")
        assert record.key == f"device-{key}"
        sequences.setdefault(key, []).append(int(seq))
    assert sequences == {str(key): list(range(per_key)) for key in range(keys)}


def test_one_megabyte_values_round_trip(bus: Bus, names: Names) -> None:
    payloads = [os.urandom(1024 * 1024) for _ in range(3)]
    for n, payload in enumerate(payloads):
        bus.publish(names.topic, payload, key=f"blob-{n}")
    bus.flush()
    consumer = bus.consumer(names.group, [names.topic])
    received: dict[str | None, str] = {}
    deadline = time.monotonic() + 60
    try:
        while len(received) < 3 and time.monotonic() < deadline:
            for record in drain(consumer, 1, timeout=max(0.1, deadline - time.monotonic())):
                received[record.key] = hashlib.sha256(record.value).hexdigest()
    finally:
        consumer.close()
    assert received == {
        f"blob-{n}": hashlib.sha256(payload).hexdigest() for n, payload in enumerate(payloads)
    }


def test_undecodable_payloads_go_to_the_dead_letter_with_a_reason(bus: Bus, names: Names) -> None:
    beat = Heartbeat(service="s", instance="i", seq=1, interval=1.0, started_at=datetime.now(UTC))
    bus.publish(names.topic, b"\xff not json", key="k")
    bus.publish(
        names.topic, b'{"type": "nope", "version": 1, "id": "x", "sent_at": "x", "data": {}}', key="k"
    )
    bus.publish(names.topic, encode(beat), key="k")
    bus.flush()
    handled: list[Message] = []
    subscriber = Subscriber(
        bus, names.group, [names.topic], lambda envelope, _: handled.append(envelope.message)
    )
    try:
        deadline = time.monotonic() + 60
        while not handled and time.monotonic() < deadline:
            subscriber.run_once(0.5)
    finally:
        subscriber.close()
    assert handled == [beat]
    letters = bus.consumer(f"{names.group}-dlq", [topics.DEADLETTER])
    try:
        mine = []
        deadline = time.monotonic() + 60
        while len(mine) < 2 and time.monotonic() < deadline:
            record = letters.poll(0.5)
            if record is not None:
                letter = decode(record.value).message
                if isinstance(letter, DeadLetter) and letter.source_topic == names.topic:
                    mine.append(letter)
    finally:
        letters.close()
    assert [letter.payload_encoding for letter in mine] == ["base64", "utf-8"]
    assert "not JSON" in mine[0].reason and "unknown message type 'nope'" in mine[1].reason
    assert all(letter.group == names.group and letter.key == "k" for letter in mine)


def _letters_from(bus: Bus, group: str, topic: str, count: int) -> list[DeadLetter]:
    """The dead letters whose source is `topic`, read by a fresh group until `count` arrived."""
    letters = bus.consumer(group, [topics.DEADLETTER])
    mine: list[DeadLetter] = []
    try:
        deadline = time.monotonic() + 60
        while len(mine) < count and time.monotonic() < deadline:
            record = letters.poll(0.5)
            if record is not None:
                letter = decode(record.value).message
                if isinstance(letter, DeadLetter) and letter.source_topic == topic:
                    mine.append(letter)
    finally:
        letters.close()
    return mine


def _handle_three(
    bus: Bus, names: Names, fail: Callable[[int, int], None], **settings: Any
) -> tuple[list[int], dict[int, int]]:
    """Publish beats 0, 1 and 2 and consume them with a handler that first calls `fail(seq, attempt)`.

    Returns the beats handled and how often the handler ran for each.
    """
    for n in range(3):
        beat = Heartbeat(service="s", instance=f"i{n}", seq=n, interval=1.0, started_at=datetime.now(UTC))
        bus.publish(names.topic, encode(beat), key="k")
    bus.flush()
    calls: dict[int, int] = {}
    handled: list[int] = []

    def handler(envelope: Any, _record: Record) -> None:
        seq = envelope.message.seq
        calls[seq] = calls.get(seq, 0) + 1
        fail(seq, calls[seq])
        handled.append(seq)

    subscriber = Subscriber(bus, names.group, [names.topic], handler, retry_delays=(0.05,) * 3, **settings)
    try:
        deadline = time.monotonic() + 60
        while len(handled) < 2 and time.monotonic() < deadline:
            subscriber.run_once(0.5)
    finally:
        subscriber.close()
    return handled, calls


def test_a_failing_handler_is_retried_then_dead_lettered_and_nothing_is_skipped(
    bus: Bus, names: Names
) -> None:
    def fail(seq: int, attempt: int) -> None:
        if seq == 0 and attempt < 3:
            raise ConnectionError("store briefly away")
        if seq == 1:
            raise RuntimeError("cannot reach postgresql://canopy:s3cret@127.0.0.1/canopy")

    handled, calls = _handle_three(bus, names, fail)
    assert handled == [0, 2] and calls == {0: 3, 1: 4, 2: 1}
    [letter] = _letters_from(bus, f"{names.group}-dlq", names.topic, 1)
    assert letter.offset == 1 and letter.group == names.group
    assert "handler failed 4 time(s): RuntimeError: cannot reach" in letter.reason
    assert "s3cret" not in letter.reason and "postgresql://[redacted]@127.0.0.1" in letter.reason
    again = bus.consumer(names.group, [names.topic])
    try:
        assert again.poll(3.0) is None, "every record, the dead-lettered one too, is committed"
    finally:
        again.close()


def test_a_handler_waits_out_an_unreachable_database_and_dead_letters_only_after_the_patience(
    bus: Bus, names: Names
) -> None:
    def fail(seq: int, attempt: int) -> None:
        if seq == 0 and attempt <= 8:  # restarting: more failures than retry_delays allows
            raise StoreUnavailable("PostgreSQL at 127.0.0.1:5432 is unavailable: restarting")
        if seq == 1:
            raise StoreUnavailable("PostgreSQL at 127.0.0.1:5432 is unavailable: gone for good")

    handled, calls = _handle_three(bus, names, fail, store_retry=0.05, store_patience=1.5)
    assert handled == [0, 2] and calls[0] == 9 and calls[2] == 1
    assert calls[1] > 4 + 5, calls  # waited out the patience before the ordinary retries ran out
    [letter] = _letters_from(bus, f"{names.group}-dlq", names.topic, 1)
    assert letter.offset == 1 and "StoreUnavailable: PostgreSQL at 127.0.0.1:5432" in letter.reason


@pytest.mark.parametrize(("url", "meant"), [("kafak://127.0.0.1:9092", "kafka"), ("sqlit:///b.db", "sqlite")])
def test_mistyped_scheme_names_the_driver_meant(url: str, meant: str) -> None:
    with pytest.raises(NoSuchDriver, match=f"Did you mean '{meant}'"):
        open_bus(url)


def test_unreachable_broker_is_reported_within_bounded_time() -> None:
    started = time.monotonic()
    with pytest.raises(Unavailable, match=r"Kafka broker at 127\.0\.0\.1:9099 is unreachable"):
        open_bus("kafka://127.0.0.1:9099")
    assert time.monotonic() - started < 10


@pytest.mark.kafka
def test_broker_outage_loses_no_acknowledged_message(
    kafka_url: str, kafka_platform: Credentials, names: Names
) -> None:
    from bootstrap.infra import down, up

    bus = open_bus(kafka_url, credentials=kafka_platform)
    published: list[int] = []
    acknowledged: list[int] = []

    def send(count: int) -> None:
        for n in range(len(published), len(published) + count):
            bus.publish(names.topic, str(n).encode(), key=f"key-{n % 10}")
            published.append(n)

    def confirm() -> None:
        bus.flush(timeout=120)
        acknowledged.extend(published[len(acknowledged) :])

    try:
        send(500)
        confirm()
        down(["kafka"])
        require(
            "A Kafka broker started by canopy (so it can be bounced)", not port_open("127.0.0.1", KAFKA_PORT)
        )
        outage_ends = time.monotonic() + 10
        while time.monotonic() < outage_ends:
            send(50)
            time.sleep(0.5)
        up(["kafka"])
        send(500)
        confirm()
    finally:
        if not port_open("127.0.0.1", KAFKA_PORT):
            up(["kafka"])
    consumer = bus.consumer(names.group, [names.topic])
    try:
        received = {int(value) for value in values(drain(consumer, len(published), timeout=90))}
    finally:
        consumer.close()
        bus.close()
    assert acknowledged == published
    assert set(acknowledged) - received == set()


def test_a_pattern_subscription_reads_topics_created_after_it_joined(bus: Bus, names: Names) -> None:
    first = f"{names.topic}.a"
    bus.ensure_topic(first)
    consumer = bus.consumer(names.group, [f"^{re.escape(names.topic)}[.].+"])
    try:
        later = f"{names.topic}.b"
        bus.publish(first, b"one", key="k")
        bus.publish(later, b"two", key="k")
        bus.publish(f"{names.topic}-other", b"never", key="k")
        bus.flush()
        got = drain(consumer, 2, timeout=60)
    finally:
        consumer.close()
    assert sorted((r.topic, r.value) for r in got) == [(first, b"one"), (later, b"two")]


def test_a_bad_topic_pattern_is_refused(bus: Bus, names: Names) -> None:
    with pytest.raises(BadRequest, match="not a valid regular expression"):
        bus.consumer(names.group, ["^(unclosed"])


@pytest.mark.kafka
def test_kafka_consumer_reports_how_far_behind_it_is(
    kafka_url: str, kafka_platform: Credentials, names: Names
) -> None:
    bus = open_bus(kafka_url, credentials=kafka_platform)
    try:
        for n in range(10):
            bus.publish(names.topic, f"m{n}".encode(), key="one-partition")
        bus.flush()
        consumer = bus.consumer(names.group, [names.topic])
        try:
            first = drain(consumer, 1)[0]
            labels = {"group": names.group, "topic": names.topic, "partition": str(first.partition)}
            assert REGISTRY.get_sample_value("canopy_bus_consumer_lag", labels) == 9.0
            drain(consumer, 9)
            assert REGISTRY.get_sample_value("canopy_bus_consumer_lag", labels) == 0.0
        finally:
            consumer.close()
    finally:
        bus.close()
