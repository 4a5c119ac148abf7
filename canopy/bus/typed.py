"""Contracts on the bus: publish typed messages; consume, decode, handle, commit, dead-letter the rest."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from prometheus_client import Counter

from canopy.bus.base import Bus, Record
from canopy.contracts import DeadLetter, Envelope, Message, decode, encode, topics
from canopy.errors import DecodeError

log = logging.getLogger(__name__)

DEAD_LETTERS = Counter(
    "canopy_dead_letters_total", "Payloads refused by a consumer and sent to the dead letter", ["topic"]
)
HANDLED = Counter("canopy_messages_handled_total", "Messages decoded and handled", ["topic", "type"])

Handler = Callable[[Envelope, Record], None]


def publish(
    bus: Bus, message: Message, *, key: str | None = None, message_id: str | None = None, topic: str = ""
) -> None:
    """Publish a contract on its own topic (or on `topic`, for per-device topics)."""
    bus.publish(topic or message.TOPIC, encode(message, message_id=message_id), key=key)


def dead_letter_for(record: Record, group: str, reason: str) -> DeadLetter:
    """Describe an undecodable record for the dead-letter topic."""
    try:
        payload, encoding = record.value.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        payload, encoding = base64.b64encode(record.value).decode(), "base64"
    return DeadLetter(
        source_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        group=group,
        reason=reason,
        payload=payload,
        payload_encoding=encoding,
    )


@dataclass
class Subscriber:
    """A consumer-group member that hands decoded messages to `handler` and commits after it returns."""

    bus: Bus
    group: str
    topics: Sequence[str]
    handler: Handler
    from_beginning: bool = True

    def __post_init__(self) -> None:
        self.bus.ensure_topic(topics.DEADLETTER)
        self._consumer = self.bus.consumer(self.group, list(self.topics), from_beginning=self.from_beginning)

    def run_once(self, timeout: float = 0.5) -> bool:
        """Handle at most one record; return whether one arrived."""
        record = self._consumer.poll(timeout)
        if record is None:
            return False
        try:
            envelope = decode(record.value)
        except DecodeError as exc:
            self._refuse(record, exc.message)
        else:
            self.handler(envelope, record)
            HANDLED.labels(record.topic, envelope.message.TYPE).inc()
        self._consumer.commit(record)
        return True

    def _refuse(self, record: Record, reason: str) -> None:
        log.warning("dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason)
        publish(self.bus, dead_letter_for(record, self.group, reason), key=record.key)
        self.bus.flush()
        DEAD_LETTERS.labels(record.topic).inc()

    def close(self) -> None:
        """Leave the consumer group."""
        self._consumer.close()
