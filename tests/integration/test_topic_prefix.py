"""Platforms sharing one real Kafka cluster through their topic prefixes never see each other's messages."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from bootstrap.infra.kafka.credentials import KafkaCredentials
from canopy.bus import Bus, Consumer, Credentials, Record, open_bus
from canopy.bus.kafka_acl import device_grants, device_names
from canopy.bus.kafka_admin import Provisioner
from canopy.contracts import topics
from canopy.errors import CanopyError

pytestmark = pytest.mark.kafka


def drain(consumer: Consumer, quiet: float = 3.0, limit: float = 30.0) -> list[Record]:
    """Every record the consumer gets until nothing arrives for `quiet` seconds, committing each."""
    records: list[Record] = []
    last, deadline = time.monotonic(), time.monotonic() + limit
    while time.monotonic() - last < quiet and time.monotonic() < deadline:
        record = consumer.poll(0.3)
        if record is not None:
            records.append(record)
            consumer.commit(record)
            last = time.monotonic()
    return records


@pytest.fixture()
def platforms(kafka_url: str, kafka_platform: Credentials) -> Iterator[tuple[Bus, Bus]]:
    """Two platforms on the same broker with the same login, told apart only by their prefixes."""
    run = uuid.uuid4().hex[:8]
    first = open_bus(kafka_url, credentials=kafka_platform, topic_prefix=f"t-{run}-a.")
    second = open_bus(kafka_url, credentials=kafka_platform, topic_prefix=f"t-{run}-b.")
    yield first, second
    first.close()
    second.close()


def test_two_prefixes_on_one_broker_see_only_their_own_messages(platforms: tuple[Bus, Bus]) -> None:
    first, second = platforms
    for bus, name in ((first, "a"), (second, "b")):
        bus.publish(topics.HEARTBEAT, f"beat-{name}".encode(), key=name)
        bus.publish(topics.ingest_topic(f"fan-{name}"), f"reading-{name}".encode(), key=name)
        bus.flush()
    for bus, name in ((first, "a"), (second, "b")):
        consumer = bus.consumer("watcher", [topics.HEARTBEAT, topics.INGEST_PATTERN])
        got = {(record.topic, record.value) for record in drain(consumer, quiet=6.0)}
        consumer.close()
        assert got == {
            (topics.HEARTBEAT, f"beat-{name}".encode()),
            (topics.ingest_topic(f"fan-{name}"), f"reading-{name}".encode()),
        }


def test_a_platform_started_after_anothers_traffic_consumes_none_of_it_and_restarts_where_it_was(
    platforms: tuple[Bus, Bus],
) -> None:
    old, new = platforms
    for n in range(200):
        old.publish(topics.DEVICE_TELEMETRY, b"old %d" % n, key="fan")
    old.flush()
    consumer = new.consumer("device_manager", [topics.DEVICE_TELEMETRY])  # a brand-new group, from the start
    new.publish(topics.DEVICE_TELEMETRY, b"own 1", key="fan")
    new.flush()
    assert [record.value for record in drain(consumer)] == [b"own 1"]
    consumer.close()
    new.publish(topics.DEVICE_TELEMETRY, b"own 2", key="fan")
    new.flush()
    restarted = new.consumer("device_manager", [topics.DEVICE_TELEMETRY])
    assert [record.value for record in drain(restarted)] == [b"own 2"]
    restarted.close()


def test_a_device_login_works_only_under_its_platforms_prefix(
    kafka_url: str, kafka_logins: KafkaCredentials, kafka_platform: Credentials
) -> None:
    run = uuid.uuid4().hex[:8]
    mine, theirs, device = f"t-{run}-a.", f"t-{run}-b.", f"fan-{run}"
    names = device_names(mine, device)
    admin = Provisioner(kafka_url, kafka_logins.admin_user, kafka_logins.admin_password)
    admin.create_topics([names["ingest_topic"], names["command_topic"]], 1)
    login = Credentials(names["username"], uuid.uuid4().hex)
    admin.provision(login.username, login.password, device_grants(device, mine))
    try:
        platform = open_bus(kafka_url, credentials=kafka_platform, topic_prefix=mine)
        watcher = platform.consumer("ingest", [topics.INGEST_PATTERN])
        own = open_bus(kafka_url, credentials=login, topic_prefix=mine)
        own.publish(topics.ingest_topic(device), b"reading", key=device)
        own.flush()
        got = [(record.topic, record.value) for record in drain(watcher, quiet=6.0)]
        assert got == [(topics.ingest_topic(device), b"reading")]
        watcher.close()
        platform.close()
        foreign = open_bus(kafka_url, credentials=login, topic_prefix=theirs)
        with pytest.raises(CanopyError):
            foreign.publish(topics.ingest_topic(device), b"reading", key=device)
            foreign.flush(10)
    finally:
        admin.revoke(login.username)
