"""Simulated controllers on a bus: one consumer carries every controller's commands, each to its device."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from canopy.bus import Bus, open_bus
from canopy.contracts import decode, encode, topics
from canopy.contracts.devices import CommandAck, DeviceCommand
from simulators.config import DeviceConfig, FleetConfig
from simulators.runner import Fleet
from simulators.transports import commands_group

CONTROLLERS = {"hall-fan": "FAN", "hall-light": "LIGHT"}


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[Bus]:
    """A SQLite bus of its own."""
    bus = open_bus(f"sqlite:///{tmp_path / 'bus.db'}")
    yield bus
    bus.close()


@pytest.fixture
def fleet(bus: Bus) -> Iterator[Fleet]:
    """The controllers (sending only on commands) and a sensor, connected to the bus."""
    devices = [
        DeviceConfig(id=device_id, type=kind, token="t", transport="kafka", rate=0)
        for device_id, kind in CONTROLLERS.items()
    ]
    devices.append(DeviceConfig(id="hall-temp", type="TEMP", token="t", transport="kafka", rate=0))
    fleet = Fleet(FleetConfig(devices=devices), bus=bus)
    fleet.connect()
    yield fleet
    fleet.close()


def _command(device_id: str, command_id: str, params: dict[str, object], *, expired: bool = False) -> bytes:
    """An encoded command for a device, live or already expired."""
    now = datetime.now(UTC)
    expires = now - timedelta(seconds=1) if expired else now + timedelta(seconds=30)
    return encode(
        DeviceCommand(
            command_id=command_id,
            device_id=device_id,
            command="set",
            params=params,
            issued_at=now,
            expires_at=expires,
        )
    )


def _acks(bus: Bus, expected: int, timeout: float = 10.0) -> dict[str, tuple[str, dict[str, object]]]:
    """The acknowledgements on the controllers' ingest topics: {command id: (ingest topic, state)}."""
    consumer = bus.consumer("ack-reader", [topics.ingest_topic(d) for d in CONTROLLERS])
    acks: dict[str, tuple[str, dict[str, object]]] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(acks) < expected and time.monotonic() < deadline:
            record = consumer.poll(0.2)
            if record is not None:
                ack = decode(record.value).message
                assert isinstance(ack, CommandAck) and ack.ok
                acks[ack.command_id] = (record.topic, ack.state)
        time.sleep(0.3)  # nothing else follows
        while (record := consumer.poll(0.1)) is not None:
            acks[decode(record.value).message.command_id] = (record.topic, {})  # type: ignore[attr-defined]
    finally:
        consumer.close()
    return acks


def test_one_consumer_carries_each_controllers_commands_to_it_alone(bus: Bus, fleet: Fleet) -> None:
    assert len(fleet._commands) == 1
    assert sum(thread.name.startswith("commands-") for thread in threading.enumerate()) == 1
    bus.publish(topics.device_command_topic("hall-fan"), _command("hall-fan", "cmd-fan-1", {"on": True}))
    bus.publish(
        topics.device_command_topic("hall-light"), _command("hall-light", "cmd-light-1", {"on": True})
    )
    # refused: a command for one controller on another's topic, an expired one, one for a sensor
    bus.publish(topics.device_command_topic("hall-fan"), _command("hall-light", "cmd-forged", {"on": False}))
    bus.publish(
        topics.device_command_topic("hall-light"),
        _command("hall-light", "cmd-expired", {"on": False}, expired=True),
    )
    bus.publish(topics.device_command_topic("hall-temp"), _command("hall-temp", "cmd-sensor", {"on": True}))
    bus.flush()
    assert _acks(bus, expected=2) == {
        "cmd-fan-1": (topics.ingest_topic("hall-fan"), {"on": True, "speed": 50}),
        "cmd-light-1": (topics.ingest_topic("hall-light"), {"on": True, "brightness": 100}),
    }


def test_a_lone_controller_keeps_its_own_group_and_several_share_one_named_by_them() -> None:
    assert commands_group(["fan-1"]) == "device-fan-1"  # its Kafka login may use no other group
    assert commands_group(["a", "b"]) == commands_group(["b", "a"]) != commands_group(["a", "c"])
