"""One bus consumer per gateway: device readings to streams, charts and command waiters; heartbeats kept."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from canopy.bus import Bus, Consumer, Record
from canopy.contracts import Heartbeat, decode, topics
from canopy.contracts.devices import CommandAck, TelemetryReading
from canopy.errors import CanopyError
from services.gateway.beats import ServiceBeats
from services.gateway.history import ReadingHistory, Series

log = logging.getLogger(__name__)
QUEUE_SIZE = 256
RECENT_ACKS = 1024
FEED_TOPICS = (topics.DEVICE_TELEMETRY, topics.DEVICE_EVENTS, topics.HEARTBEAT)


class AckWaiter:
    """A future for one command's acknowledgement, completed by the feed's consumer thread."""

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self._done = threading.Event()
        self.ack: CommandAck | None = None

    def complete(self, ack: CommandAck) -> None:
        """Hand over the acknowledgement and wake the waiting request."""
        self.ack = ack
        self._done.set()

    def wait(self, timeout: float) -> CommandAck | None:
        """The acknowledgement, or None when none arrived within `timeout` seconds."""
        self._done.wait(timeout)
        return self.ack


class DeviceFeed:
    """Reads device readings, acknowledgements and service heartbeats once, for all of this gateway.

    Streams subscribe to a device and get bounded queues (a slow reader loses its oldest readings,
    never the consumer's progress); command requests register a waiter before publishing the command;
    every reading is also kept in a bounded history of recent readings per device, for charts, and
    each platform service's latest heartbeat in `beats`, for the services page.
    """

    def __init__(self, bus: Bus, beats: ServiceBeats, history: ReadingHistory | None = None) -> None:
        self.bus = bus
        self.beats = beats
        self.history = history or ReadingHistory()
        self._subscribers: dict[str, set[queue.Queue[TelemetryReading]]] = defaultdict(set)
        self._waiters: dict[str, AckWaiter] = {}
        self._acks: OrderedDict[str, CommandAck] = OrderedDict()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Consumer | None = None

    def start(self) -> None:
        """Join the bus now (so nothing published after this returns is missed) and start reading."""
        with self._lock:
            if self._thread is not None:
                return
            for topic in FEED_TOPICS:
                self.bus.ensure_topic(topic)
            group = f"gateway-feed-{uuid.uuid4().hex}"  # its own: every gateway process reads everything
            consumer = self._consumer = self.bus.consumer(group, FEED_TOPICS, from_beginning=False)
            self._thread = threading.Thread(target=self._run, args=(consumer,), name="feed", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop reading and leave the bus."""
        self._stopping.set()
        if self._consumer is not None:
            self._consumer.wake()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def subscribe(self, device_id: str) -> queue.Queue[TelemetryReading]:
        """A queue that receives the device's new readings until unsubscribed."""
        self.start()
        readings: queue.Queue[TelemetryReading] = queue.Queue(QUEUE_SIZE)
        with self._lock:
            self._subscribers[device_id].add(readings)
        return readings

    def unsubscribe(self, device_id: str, readings: queue.Queue[TelemetryReading]) -> None:
        """Stop delivering to a stream's queue."""
        with self._lock:
            subscribers = self._subscribers.get(device_id, set())
            subscribers.discard(readings)
            if not subscribers:
                self._subscribers.pop(device_id, None)

    def expect(self, command_id: str, device_id: str) -> AckWaiter:
        """Register a waiter for a command's acknowledgement; call before publishing the command."""
        self.start()
        waiter = AckWaiter(device_id)
        with self._lock:
            self._waiters[command_id] = waiter
        return waiter

    def forget(self, command_id: str) -> None:
        """Drop a command's waiter once its request is answered."""
        with self._lock:
            self._waiters.pop(command_id, None)

    def recent(self, device_id: str, seed: Callable[[], tuple[datetime, Mapping[str, Any]] | None]) -> Series:
        """The device's recent readings; when none is kept yet, `seed()` (the stored latest) starts them."""
        self.start()
        if not self.history.known(device_id):
            first = seed()
            if first is not None:
                self.history.add(device_id, _unix(first[0]), first[1])
        return self.history.series(device_id)

    def heard(self) -> ServiceBeats:
        """The platform services' heartbeats heard so far (the feed joins the bus on the first call)."""
        self.start()
        return self.beats

    def recent_ack(self, command_id: str) -> CommandAck | None:
        """The acknowledgement of a recent command, if this feed saw one."""
        with self._lock:
            return self._acks.get(command_id)

    def _run(self, consumer: Consumer) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    record = consumer.poll(consumer.idle_poll_seconds)
                except Exception:
                    log.exception("the gateway's device feed could not read the bus; retrying")
                    self._stopping.wait(1.0)
                    continue
                if record is not None:
                    self._dispatch(record)
        finally:
            consumer.close()

    def _dispatch(self, record: Record) -> None:
        """Deliver a reading to its streams, an acknowledgement to its waiter, or keep a heartbeat."""
        try:
            message = decode(record.value).message
        except CanopyError as exc:
            log.warning("the device feed skipped an undecodable record: %s", exc)
            return
        if isinstance(message, CommandAck):
            with self._lock:
                waiter = self._waiters.get(message.command_id)
                self._acks[message.command_id] = message
                if len(self._acks) > RECENT_ACKS:
                    self._acks.popitem(last=False)
            if waiter is not None and waiter.device_id == message.device_id and waiter.ack is None:
                waiter.complete(message)
        elif isinstance(message, Heartbeat):
            self.beats.add(message)
        elif isinstance(message, TelemetryReading):
            self.history.add(message.device_id, _unix(message.at), message.reading)
            with self._lock:
                targets = list(self._subscribers.get(message.device_id, ()))
            for readings in targets:
                _offer(readings, message)


def _offer(readings: queue.Queue[TelemetryReading], reading: TelemetryReading) -> None:
    """Queue a reading, dropping the oldest one when the reader is behind."""
    while True:
        try:
            readings.put_nowait(reading)
            return
        except queue.Full:
            with contextlib.suppress(queue.Empty):
                readings.get_nowait()


def _unix(at: datetime) -> float:
    """Unix seconds of a time; a time without a zone is UTC (as the store keeps them)."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
