"""No device credential on the bus, in a dead letter or in a log, read raw from SQLite and from Kafka.

Readings arrive by HTTP and MQTT (old payloads that still carry the credential included), some are
refused (a wrong token, invalid values), and an old-shaped submission with a token lands on the ingest
topic; then the bus is read without canopy's code and every log line captured is searched.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import time
import uuid
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests
from confluent_kafka import Consumer, TopicPartition

from canopy.bus import Bus
from canopy.bus.kafka import sasl_settings
from canopy.bus.naming import prefixed
from canopy.config import load_config
from canopy.contracts import topics
from canopy.telemetry.mqtt import topic_for
from tests.conftest import MqttBroker, kafka_environment
from tests.security.device_site import Site, eventually, mosquitto, start_site

pytestmark = pytest.mark.timeout(240)
BUS_TOPICS = (
    topics.TELEMETRY_INGEST,
    topics.DEVICE_TELEMETRY,
    topics.DEADLETTER,
    topics.DEVICE_EVENTS,
    topics.DEVICE_COMMANDS,
)


class BusTail:
    """Raw bytes of the records on the device topics, read bypassing canopy's bus code."""

    def __init__(self, bus_url: str | None, home: Path, login: dict[str, str]) -> None:
        self.servers = bus_url.removeprefix("kafka://") if bus_url else ""
        self.home = home
        self.login = login
        self.marks = self._ends() if self.servers else {}

    def _consumer(self) -> Consumer:
        """A raw Kafka consumer of its own group."""
        return Consumer(
            {"bootstrap.servers": self.servers, "group.id": f"sec-{uuid.uuid4().hex}", **self.login}
        )

    def _ends(self) -> dict[tuple[str, int], int]:
        """The next offset of every partition of the device topics."""
        consumer, ends = self._consumer(), {}
        for topic in (prefixed(load_config().topic_prefix, name) for name in BUS_TOPICS):
            for partition in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
                ends[(topic, partition)] = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), 10
                )[1]
        consumer.close()
        return ends

    def values(self) -> list[bytes]:
        """Every record value written since it was made, straight from the SQLite file or the Kafka log."""
        if not self.servers:
            with sqlite3.connect(self.home / "bus.db") as db:
                return [bytes(row[0]) for row in db.execute("SELECT value FROM messages")]
        ends = self._ends()
        left = {key for key, end in ends.items() if end > self.marks.get(key, 0)}
        consumer, values = self._consumer(), []
        consumer.assign([TopicPartition(t, p, self.marks.get((t, p), 0)) for t, p in left])
        deadline = time.monotonic() + 30
        while left and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            values.append(message.value() or b"")
            key = (str(message.topic()), int(message.partition() or 0))
            if int(message.offset() or 0) + 1 >= ends[key]:
                left.discard(key)
        consumer.close()
        return values


def send_old_mqtt(site: Site, device: str, channel: str, payload: dict[str, Any]) -> None:
    """Publish as `device` a payload of the old shape that carried the credential in a "token" field."""
    body = json.dumps({"token": site.credentials[device], **payload})
    done = mosquitto(
        "mosquitto_pub", site.broker, "-q", "1", "-t", topic_for(device, channel), "-m", body,
        device=device, password=site.credentials[device],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def publish_old_submission(bus: Bus, device: str, token: str) -> bytes:
    """What an old kafka-transport device sent, a telemetry-submit with its token, on the ingest topic."""
    at = datetime.now(UTC).isoformat()
    data = {"device_id": device, "token": token, "reading": {"temperature": 1}, "at": at}
    envelope = {"type": "telemetry-submit", "version": 1, "id": uuid.uuid4().hex, "sent_at": at, "data": data}
    raw = json.dumps(envelope).encode()
    bus.publish(topics.TELEMETRY_INGEST, raw, key=device)
    bus.flush()
    return raw


def dead_letters(values: list[bytes], run: str) -> int:
    """How many of the records are dead letters about this run's devices."""
    return sum(b'"type":"deadletter' in v.replace(b" ", b"") and run.encode() in v for v in values)


def readings_and_refusals(site: Site, wrong: str) -> tuple[str, str, bytes]:
    """Send good, refused and old-shaped readings by HTTP, MQTT and the bus.

    Returns the ids of the http and the mqtt sensor and the old-shaped record the test itself wrote.
    """
    posted, sensor, fan = site.register("h", "http"), site.register("m"), site.register("f", type_name="FAN")
    url = f"{site.api.api_url}/api/v1/devices/{posted}/telemetry"
    for token, reading, status in [
        (site.credentials[posted], {"temperature": 21}, 202),
        (wrong, {"temperature": 22}, 401),
        (site.credentials[posted], {"temperature": "hot", "token": site.credentials[posted]}, 400),
    ]:
        answer = requests.post(url, json={"reading": reading}, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == status and wrong not in answer.text
    send_old_mqtt(site, sensor, "telemetry", {"reading": {"temperature": 23}, "seq": 1})
    send_old_mqtt(site, sensor, "telemetry", {"reading": {"temperature": 999}, "seq": 2})
    send_old_mqtt(site, fan, "state", {"command_id": "c" * 16, "state": {"on": True, "speed": 10}})
    return posted, sensor, publish_old_submission(site.backends.bus, sensor, site.credentials[sensor])


def latest(site: Site, device: str, part: str = "latest") -> Any:
    """A part of what the API shows as a device's latest reading and refusals."""
    return site.api.get(f"/api/v1/devices/{device}/latest")[part]


@pytest.mark.parametrize("bus", ["sqlite", "kafka"])
def test_no_credential_reaches_the_bus_a_dead_letter_or_a_log(
    bus: str,
    request: pytest.FixtureRequest,
    canopy_home: Path,
    mqtt_broker: MqttBroker,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus_url, login = None, {}
    if bus == "kafka":
        bus_url, logins = request.getfixturevalue("kafka_url"), request.getfixturevalue("kafka_logins")
        kafka_environment(monkeypatch, bus_url, logins)
        login = sasl_settings(logins.platform_user, logins.platform_password)
    caplog.set_level(logging.DEBUG)
    with start_site(canopy_home, mqtt_broker, monkeypatch, bus_url, bridge=True) as site:
        tail, wrong = BusTail(bus_url, canopy_home, login), "cnd_" + secrets.token_urlsafe(32)
        posted, sensor, written = readings_and_refusals(site, wrong)
        for device in (posted, sensor):
            eventually(partial(latest, site, device))
        eventually(lambda: latest(site, sensor, "refused").get("invalid"))
        values = eventually(lambda: (found := tail.values()) and dead_letters(found, site.run) >= 4 and found)
        values.remove(written)
        sent = [wrong, *site.credentials.values()]
        assert [s for s in sent if any(s.encode() in value for value in values)] == []
        assert [s for s in sent if s in caplog.text] == []
        assert any(b'"temperature":21' in value.replace(b" ", b"") for value in values)
