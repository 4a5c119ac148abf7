"""The production bus: Apache Kafka through confluent-kafka, tuned for low-latency control messages."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from canopy.bus._kafka_consumer import KafkaConsumer
from canopy.bus._rules import MAX_VALUE_BYTES, check_subscription, check_topic, check_value, is_pattern
from canopy.bus.base import Bus, Consumer, Credentials
from canopy.bus.naming import prefixed, prefixed_subscription
from canopy.errors import ConfigError, PayloadTooLarge, Timeout, Unavailable

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
ADMIN_TIMEOUT = 10.0
PUBLISH_BLOCK_TIMEOUT = 30.0
DEFAULT_SESSION_TIMEOUT = 10.0
NOT_ALLOWED = (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED)
# Record-batch overhead on top of the largest value, so a MAX_VALUE_BYTES message always fits.
MESSAGE_OVERHEAD = 64 * 1024


def parse_url(url: str) -> tuple[str, float]:
    """Read kafka://host:port[,host:port][?session_timeout=S] into bootstrap servers and a timeout."""
    parts = urlsplit(url)
    servers = [server.strip() for server in parts.netloc.split(",") if server.strip()]
    if not servers or any(not server.rpartition(":")[2].isdigit() for server in servers):
        raise ConfigError(f"Bus URL {url!r} is not valid; expected kafka://host:port[,host:port]")
    session_timeout = DEFAULT_SESSION_TIMEOUT
    for name, values in parse_qs(parts.query, keep_blank_values=True).items():
        if name != "session_timeout":
            raise ConfigError(f"Bus URL option {name!r} is not known; accepted options: session_timeout")
        try:
            session_timeout = float(values[-1])
        except ValueError:
            session_timeout = 0.0
        if not 6 <= session_timeout <= 1800:
            raise ConfigError(
                f"Bus URL option session_timeout={values[-1]!r} is not valid; "
                "accepted values: 6 to 1800 seconds (the broker's limits)"
            )
    return ",".join(servers), session_timeout


class KafkaBus(Bus):
    """kafka://host:port[,host:port][?session_timeout=S]: idempotent producer, groups with manual commits.

    Topics and groups on the cluster carry `topic_prefix`; callers only ever see the logical names.
    """

    def __init__(
        self,
        url: str,
        *,
        partitions: int = 3,
        credentials: Credentials | None = None,
        topic_prefix: str = "",
    ) -> None:
        super().__init__(url, partitions=partitions, credentials=credentials, topic_prefix=topic_prefix)
        self.servers, self.session_timeout = parse_url(url)
        common: dict[str, Any] = {
            "bootstrap.servers": self.servers,
            "logger": log,
            "reconnect.backoff.max.ms": 1000,
        }
        if credentials is not None:
            common.update(sasl_settings(credentials.username, credentials.password))
        self._common = common
        self._admin = AdminClient(dict(common))
        try:
            self._admin.list_topics(timeout=CONNECT_TIMEOUT)
        except KafkaException as exc:
            raise self.unreachable(exc) from exc
        self._producer = Producer(
            {
                **common,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 1,
                "compression.type": "lz4",
                "message.max.bytes": MAX_VALUE_BYTES + MESSAGE_OVERHEAD,
                "message.timeout.ms": 120_000,
                "delivery.report.only.error": True,
                "on_delivery": self._on_delivery,
                "socket.nagle.disable": True,
            }
        )
        self._topics: set[str] = set()
        self._failed = 0
        self._first_failure = ""
        self._lock = threading.Lock()

    def unreachable(self, reason: KafkaException | str) -> Unavailable:
        """The error raised when the brokers cannot be reached."""
        return Unavailable(f"Kafka broker at {self.servers} is unreachable: {describe(reason)}")

    def ensure_topic(self, topic: str, partitions: int | None = None) -> None:
        """Create `topic` (replication 1, room for MAX_VALUE_BYTES messages) unless it exists."""
        if topic in self._topics:
            return
        name = check_topic(prefixed(self.topic_prefix, check_topic(topic)))
        new = NewTopic(
            name,
            num_partitions=partitions or self.partitions,
            replication_factor=1,
            config={"max.message.bytes": str(MAX_VALUE_BYTES + MESSAGE_OVERHEAD)},
        )
        future = self._admin.create_topics([new], operation_timeout=ADMIN_TIMEOUT)[name]
        try:
            future.result(timeout=ADMIN_TIMEOUT)
        except KafkaException as exc:
            if exc.args[0].code() in (KafkaError._TRANSPORT, KafkaError._TIMED_OUT):
                raise self.unreachable(exc) from exc
            if exc.args[0].code() in NOT_ALLOWED and self._exists(name):
                pass  # a principal without CREATE uses topics the platform made
            elif exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise Unavailable(
                    f"Kafka at {self.servers} did not create topic {name!r}: {describe(exc)}"
                ) from exc
        except TimeoutError as exc:
            raise self.unreachable(f"creating topic {name!r} took over {ADMIN_TIMEOUT:.0f} s") from exc
        self._topics.add(topic)

    def _exists(self, topic: str) -> bool:
        """Whether the broker shows `topic` to this principal."""
        try:
            found = self._admin.list_topics(topic, timeout=ADMIN_TIMEOUT).topics.get(topic)
        except KafkaException as exc:
            raise self.unreachable(exc) from exc
        return found is not None and found.error is None

    def publish(
        self, topic: str, value: bytes, key: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        """Queue a message; if librdkafka's queue is full, serve delivery reports until there is room."""
        self.ensure_topic(topic)
        check_value(topic, value)
        deadline = time.monotonic() + PUBLISH_BLOCK_TIMEOUT
        while True:
            try:
                self._producer.produce(
                    prefixed(self.topic_prefix, topic),
                    value,
                    key=None if key is None else key.encode(),
                    headers=list(headers.items()) if headers else None,
                )
                break
            except BufferError:
                if time.monotonic() > deadline:
                    raise Timeout(
                        f"Kafka producer queue for {self.servers} stayed full for "
                        f"{PUBLISH_BLOCK_TIMEOUT:.0f} s"
                    ) from None
                self._producer.poll(0.05)
            except KafkaException as exc:
                if exc.args[0].code() == KafkaError.MSG_SIZE_TOO_LARGE:
                    raise PayloadTooLarge(f"Message for {topic!r} is too large: {describe(exc)}") from exc
                raise self.unreachable(exc) from exc
        self._producer.poll(0)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait for every delivery report; raise if any message since the last flush was not delivered."""
        remaining = self._producer.flush(timeout)
        with self._lock:
            failed, first_failure = self._failed, self._first_failure
            self._failed, self._first_failure = 0, ""
        if failed:
            raise Unavailable(
                f"{failed} messages were not delivered to Kafka at {self.servers}; "
                f"first error: {first_failure}"
            )
        if remaining:
            raise Timeout(
                f"{remaining} messages not acknowledged by Kafka at {self.servers} within {timeout} s"
            )

    def consumer(self, group: str, topics: Sequence[str], *, from_beginning: bool = True) -> Consumer:
        """Join `group` on `topics` ('^regex' patterns too), creating the named topics if needed.

        Group and topics get the platform's prefix; the records' topics come back without it.
        """
        if not topics:
            raise ValueError("a consumer needs at least one topic")
        for topic in topics:
            if is_pattern(check_subscription(topic)):
                continue
            self.ensure_topic(topic)
        return KafkaConsumer(
            self._common,
            prefixed(self.topic_prefix, group),
            [prefixed_subscription(self.topic_prefix, topic) for topic in topics],
            session_timeout=self.session_timeout,
            from_beginning=from_beginning,
            topic_prefix=self.topic_prefix,
        )

    def close(self) -> None:
        """Flush; librdkafka releases its connections when the clients are collected."""
        self.flush()

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        """Remember failed deliveries for the next flush()."""
        if err is not None:
            with self._lock:
                self._failed += 1
                self._first_failure = self._first_failure or f"{msg.topic()}: {err.str()}"


def sasl_settings(username: str, password: str) -> dict[str, str]:
    """Settings for librdkafka to log in with SASL/SCRAM-SHA-512 (over plaintext on 127.0.0.1)."""
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": username,
        "sasl.password": password,
    }


def describe(reason: KafkaException | str) -> str:
    """The readable text of a librdkafka error."""
    if isinstance(reason, KafkaException) and isinstance(reason.args[0], KafkaError):
        return str(reason.args[0].str())
    return str(reason)
