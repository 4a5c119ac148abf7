"""Assemble the device manager from its components: bus ingest, MQTT bridge, commands, latest values."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from canopy.bus import Record
from canopy.bus.typed import Handler, Subscriber, publish
from canopy.contracts import Envelope, topics
from canopy.contracts.devices import CommandAck, TelemetrySubmission
from canopy.eventsummary import SummarizedLog
from canopy.runtime import Component
from canopy.runtime.backends import Backends
from canopy.runtime.component import LoopThread
from canopy.runtime.subscription import SubscriptionLoop
from canopy.telemetry.directory import CachedDirectory, DeviceDirectory
from canopy.telemetry.ingest import Submission
from canopy.telemetry.metrics import REFUSAL_LOG
from canopy.telemetry.mqtt import MqttLogin
from canopy.telemetry.registry import StoreDirectory
from canopy.telemetry.storage import LatestWriter
from services.device_manager.commands import AckRecorder, CommandRouter, StateFromMqtt
from services.device_manager.processor import GROUP, TelemetryProcessor

log = logging.getLogger(__name__)
FOREIGN_LOG = SummarizedLog(log, logging.WARNING)  # one line per topic and message type every 10 s


class LatestFlusher(LoopThread):
    """Writes collected latest values and refusal counts when no reading has flushed them for a while."""

    name = "telemetry-latest"

    def __init__(self, writer: LatestWriter) -> None:
        super().__init__()
        self.writer = writer
        self.idle_seconds = writer.interval

    def step(self) -> None:
        """Flush if the readings' own thread has not done so for two intervals (e.g. acks only)."""
        self.writer.flush_if_due(2 * self.writer.interval)

    def stop(self) -> None:
        """Stop, then write what is left (and the refusals still held for the log's summary)."""
        super().stop()
        self.writer.flush()
        REFUSAL_LOG.flush()


def ingest_handler(processor: TelemetryProcessor) -> Handler:
    """A bus handler for readings: relayed ones on canopy.telemetry-ingest, and each kafka device's own.

    On a device's topic (canopy.ingest.<id>, which only that device may write on Kafka) the device is
    the topic's; a message naming another device is refused, and a controller's acknowledgement is
    passed on to canopy.devices, which only the platform may write.
    """

    def handle(envelope: Envelope, record: Record) -> None:
        """Judge one message from the bus."""
        message = envelope.message
        owner = topics.device_of_ingest_topic(record.topic)
        claimed = getattr(message, "device_id", None)
        if owner is not None and claimed != owner:
            FOREIGN_LOG.event(
                (record.topic, message.TYPE),
                f"refused a {message.TYPE} on {record.topic}: it names device {claimed}",
            )
        elif isinstance(message, TelemetrySubmission):
            source = "kafka" if owner is not None else message.source
            processor.handle(Submission(message.device_id, message.reading, message.at, message.seq, source))
        elif isinstance(message, CommandAck) and owner is not None:
            publish(processor.bus, message, key=owner)

    return handle


@dataclass(frozen=True)
class Placement:
    """Where the device manager attaches: its consumer-group prefix, MQTT client id and start offsets.

    The MQTT client id defaults to the installation's own; tests and benchmarks on a shared broker pass
    their own names and start at the newest messages.
    """

    group: str = GROUP
    mqtt_client_id: str | None = None
    from_beginning: bool = True


def device_manager_components(
    backends: Backends, directory: DeviceDirectory | None = None, placement: Placement | None = None
) -> list[Component]:
    """The device manager's components on the configured backends."""
    bus, store, where = backends.bus, backends.store, placement or Placement()
    directory = directory or CachedDirectory(StoreDirectory(store), ttl=1.0, background=True)
    writer = LatestWriter(store)
    processor = TelemetryProcessor(bus, directory, writer)
    config = backends.config
    bridge = None
    if config.mqtt_url:
        from services.device_manager.mqtt_bridge import MqttBridge, installation_client_id  # loads paho

        login = MqttLogin.parse(config.mqtt_url, config.mqtt_username, config.mqtt_password)
        client_id = where.mqtt_client_id or installation_client_id(config.home)
        bridge = MqttBridge(login, bus, processor.handle, StateFromMqtt(bus, directory), client_id)

    def loop(name: str, suffix: str, subscribed: list[str], handler: Handler) -> SubscriptionLoop:
        """A subscription loop of this placement on some topics."""
        group = f"{where.group}{suffix}"
        return SubscriptionLoop(
            name, lambda: Subscriber(bus, group, subscribed, handler, from_beginning=where.from_beginning)
        )

    components: list[Component] = [
        LatestFlusher(writer),
        loop(
            "telemetry-ingest",
            "",
            [topics.TELEMETRY_INGEST, topics.INGEST_PATTERN],
            ingest_handler(processor),
        ),
        loop("command-acks", "-acks", [topics.DEVICE_EVENTS], AckRecorder(store, directory, writer)),
        loop("command-router", "-commands", [topics.DEVICE_COMMANDS], CommandRouter(bus, directory, bridge)),
    ]
    if bridge is not None:
        components.append(bridge)
    return components
