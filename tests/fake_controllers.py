"""A stand-in for controllers in tests: answers the gateway's commands with acknowledgements on the bus."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from canopy.bus import Bus
from canopy.bus.typed import publish
from canopy.contracts import decode, topics
from canopy.contracts.devices import CommandAck, DeviceCommand

Answer = Callable[[DeviceCommand], dict[str, Any] | None]


@contextmanager
def acknowledging(bus: Bus, answer: Answer, delay: float = 0.0) -> Iterator[list[str]]:
    """Acknowledge each command `delay` s after it is published, with the state answer(command) gives.

    A command for which `answer` returns None stays unanswered. Yields the ids of the acknowledged ones.
    """
    consumer = bus.consumer("fake-controllers", [topics.DEVICE_COMMANDS], from_beginning=False)
    stop, acked = threading.Event(), []

    def run() -> None:
        while not stop.is_set():
            record = consumer.poll(0.2)
            command = decode(record.value).message if record is not None else None
            state = answer(command) if isinstance(command, DeviceCommand) else None
            if isinstance(command, DeviceCommand) and state is not None:
                time.sleep(delay)
                ack = CommandAck(
                    command_id=command.command_id,
                    device_id=command.device_id,
                    state=state,
                    at=datetime.now(UTC),
                )
                acked.append(command.command_id)
                publish(bus, ack, key=command.device_id)
                bus.flush()
        consumer.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield acked
    finally:
        stop.set()
        thread.join(timeout=5)
