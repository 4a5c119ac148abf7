"""Contracts on the bus: publish typed messages; consume, decode, handle (retried), commit or dead-letter.

Every record is either handled or dead-lettered with its reason before its offset is committed:
a handler that raises is retried with backoff, then the record goes to the dead-letter topic. While
the database is unreachable, a handler that needs it is retried until it is back (within a bound):
the record is not to blame, and dead-lettering it would lose it.
"""

from __future__ import annotations

import base64
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from prometheus_client import Counter

from canopy.bus.base import Bus, Record
from canopy.contracts import DeadLetter, Envelope, Message, decode, encode, topics
from canopy.errors import DecodeError, StoreUnavailable
from canopy.eventsummary import SummarizedLog
from canopy.redaction import scrub_payload, scrub_text

log = logging.getLogger(__name__)

DEAD_LETTERS = Counter(
    "canopy_dead_letters_total", "Payloads refused by a consumer and sent to the dead letter", ["topic"]
)
HANDLED = Counter("canopy_messages_handled_total", "Messages decoded and handled", ["topic", "type"])
RETRIES = Counter("canopy_handler_retries_total", "Handler attempts that raised and were retried", ["topic"])

Handler = Callable[[Envelope, Record], None]
DEAD_LETTER_LOG = SummarizedLog(log, logging.WARNING)  # one line per group and topic every 10 s
RETRY_LOG = SummarizedLog(log, logging.WARNING)  # the same for retries: an outage retries every second
RETRY_DELAYS = (0.1, 0.5, 2.0)  # seconds before each retry of a failing handler
STORE_RETRY = 1.0  # seconds between the attempts of a handler waiting for the database
# How long a handler waits for the database before its record is dead-lettered (Kafka's poll limit is 300 s).
STORE_PATIENCE = 120.0
MAX_REASON = 500


def failure_reason(exc: BaseException, attempts: int) -> str:
    """Why a handler gave up, for the dead letter: exception type and message, credentials masked."""
    text = scrub_text(f"{type(exc).__name__}: {exc}")
    return f"handler failed {attempts} time(s): {text}"[:MAX_REASON]


def publish(
    bus: Bus, message: Message, *, key: str | None = None, message_id: str | None = None, topic: str = ""
) -> None:
    """Publish a contract on its own topic (or on `topic`, for per-device topics)."""
    bus.publish(topic or message.TOPIC, encode(message, message_id=message_id), key=key)


def dead_letter_for(record: Record, group: str, reason: str) -> DeadLetter:
    """Describe a record that could not be decoded or handled, with any credential in it scrubbed."""
    value = scrub_payload(record.value)
    try:
        payload, encoding = value.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        payload, encoding = base64.b64encode(value).decode(), "base64"
    return DeadLetter(
        source_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        group=group,
        reason=scrub_text(reason),
        payload=payload,
        payload_encoding=encoding,
    )


@dataclass
class Subscriber:
    """A consumer-group member that hands decoded messages to `handler` and commits after it returns.

    A raising handler is retried after each of `retry_delays`; then the record is dead-lettered with
    the reason, and only then committed. If the dead letter cannot be published, nothing is committed.
    """

    bus: Bus
    group: str
    topics: Sequence[str]
    handler: Handler
    from_beginning: bool = True
    retry_delays: Sequence[float] = field(default=RETRY_DELAYS)
    store_retry: float = STORE_RETRY
    store_patience: float = STORE_PATIENCE

    def __post_init__(self) -> None:
        self.bus.ensure_topic(topics.DEADLETTER)
        self._consumer = self.bus.consumer(self.group, list(self.topics), from_beginning=self.from_beginning)
        self._pending: Record | None = None

    def run_once(self, timeout: float | None = None) -> bool:
        """Handle at most one record arriving within `timeout` (the bus's idle poll time by default).

        A record whose handling raised out of here (the dead letter could not be published) is
        kept and handled again by the next call, before anything new is polled.
        """
        wait = self._consumer.idle_poll_seconds if timeout is None else timeout
        record = self._pending or self._consumer.poll(wait)
        if record is None:
            return False
        self._pending = record
        try:
            envelope = decode(record.value)
        except DecodeError as exc:
            self._refuse(record, exc.message)
        else:
            self._handle(envelope, record)
        self._consumer.commit(record)
        self._pending = None
        return True

    def _handle(self, envelope: Envelope, record: Record) -> None:
        """Run the handler, retrying after each delay; dead-letter the record when every attempt raised.

        Attempts that found the database unreachable are repeated every `store_retry` seconds for up
        to `store_patience` seconds without using up the retries.
        """
        delays = iter(self.retry_delays)
        patience_ends = time.monotonic() + self.store_patience
        for attempt in itertools.count(1):
            try:
                self.handler(envelope, record)
            except Exception as exc:
                waiting = isinstance(exc, StoreUnavailable) and time.monotonic() < patience_ends
                delay = self.store_retry if waiting else next(delays, None)
                if delay is None:
                    log.exception(
                        "handler for %s[%d]@%d failed", record.topic, record.partition, record.offset
                    )
                    self._refuse(record, failure_reason(exc, attempt))
                    return
                RETRY_LOG.event(
                    (self.group, record.topic, type(exc).__name__),
                    f"handler for {record.topic} in {self.group} failed ({type(exc).__name__}); "
                    f"retry {attempt} in {delay:.1f} s",
                )
                RETRIES.labels(record.topic).inc()
                time.sleep(delay)
            else:
                HANDLED.labels(record.topic, envelope.message.TYPE).inc()
                return

    def _refuse(self, record: Record, reason: str) -> None:
        """Publish the record to the dead-letter topic with the reason, and wait until it is stored."""
        DEAD_LETTER_LOG.event(
            (self.group, record.topic),
            f"dead-lettering {record.topic}[{record.partition}]@{record.offset} for {self.group}: {reason}",
        )
        publish(self.bus, dead_letter_for(record, self.group, reason), key=record.key)
        self.bus.flush()
        DEAD_LETTERS.labels(record.topic).inc()

    def wake(self) -> None:
        """Make a run_once waiting on another thread return soon."""
        self._consumer.wake()

    def close(self) -> None:
        """Leave the consumer group."""
        self._consumer.close()
