"""The message bus: a small interface with sqlite:// and kafka:// drivers chosen by URL."""

from __future__ import annotations

from canopy.bus.base import Bus, Consumer, Credentials, Record
from canopy.drivers import load_driver

DRIVERS = {
    "sqlite": "canopy.bus.sqlite:SqliteBus",
    "kafka": "canopy.bus.kafka:KafkaBus",
}


def open_bus(
    url: str, *, partitions: int = 3, credentials: Credentials | None = None, topic_prefix: str = ""
) -> Bus:
    """Open the bus named by `url`, e.g. sqlite:///var/bus.db or kafka://127.0.0.1:9092, as `credentials`.

    `topic_prefix` (CANOPY_TOPIC_PREFIX) is the platform's namespace on a shared Kafka cluster.
    """
    driver = load_driver("bus", url, DRIVERS)
    bus: Bus = driver(url, partitions=partitions, credentials=credentials, topic_prefix=topic_prefix)
    return bus


__all__ = ["Bus", "Consumer", "Credentials", "Record", "open_bus"]
