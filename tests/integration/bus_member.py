"""A consumer-group member in its own process that never commits: it prints each value it receives.

Usage: python bus_member.py BUS_URL GROUP TOPIC (as CANOPY_KAFKA_USERNAME on Kafka). Prints "joined",
then one line per record, until it
is killed (the contract suite sends SIGKILL) or LIFETIME seconds pass.
"""

from __future__ import annotations

import sys
import time

from canopy.config import load_config
from canopy.runtime.backends import open_config_bus

LIFETIME = 120.0


def main(url: str, group: str, topic: str) -> None:
    """Join `group` on `topic` and echo every record's value without committing."""
    bus = open_config_bus(load_config(), url)
    consumer = bus.consumer(group, [topic])
    print("joined", flush=True)
    deadline = time.monotonic() + LIFETIME
    while time.monotonic() < deadline:
        record = consumer.poll(0.2)
        if record is not None:
            print(record.value.decode(), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
