"""The demo fleet of `canopy up --demo`: device types and a few devices at two locations, simulated."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from canopy import devices
from canopy.errors import Conflict
from canopy.runtime import Component
from canopy.runtime.backends import Backends
from canopy.store import Store
from simulators import TYPES_DIR
from simulators.config import DeviceConfig, FleetConfig
from simulators.runner import Fleet

log = logging.getLogger(__name__)

LAB = "hyderabad/gachibowli/lab/room-1"
PLANT = "bengaluru/whitefield/plant/hall-2"
DEMO_DEVICES: list[dict[str, Any]] = [
    {"id": "lab-temp", "type": "TEMP", "location": LAB, "rate": 1.0},
    {"id": "lab-pressure", "type": "PRESSURE", "location": LAB, "rate": 0.5},
    {"id": "lab-light", "type": "LIGHT_SENSOR", "location": LAB, "rate": 0.5},
    {"id": "lab-camera", "type": "IMAGE", "location": LAB, "rate": 0.2},
    {"id": "lab-patient", "type": "PATIENT_VITALS", "location": LAB, "rate": 1.0},
    {"id": "lab-display", "type": "DISPLAY", "location": LAB, "rate": 0.1},
    {"id": "lab-ac", "type": "AC", "location": LAB, "rate": 0.1},
    {"id": "plant-fan-1", "type": "TURBINE_FAN", "location": PLANT, "rate": 1.0},
    {
        "id": "plant-fan-2",
        "type": "TURBINE_FAN",
        "location": PLANT,
        "rate": 1.0,
        "options": {"fail_at": 60, "fail_over": 300},
    },
    {"id": "plant-camera", "type": "BURSTIMAGE", "location": PLANT, "rate": 0.1},
    {"id": "plant-fan-switch", "type": "FAN", "location": PLANT, "rate": 0.1},
    {"id": "plant-light", "type": "LIGHT", "location": PLANT, "rate": 0.1},
    {"id": "plant-buzzer", "type": "BUZZER", "location": PLANT, "rate": 0.1},
    {"id": "plant-sprinkler", "type": "SPRINKLER", "location": PLANT, "rate": 0.1},
]


def register_types(store: Store) -> list[str]:
    """Register every shipped device type (an identical one already there is left as it is)."""
    names = []
    for path in sorted(TYPES_DIR.glob("*.json")):
        spec = devices.parse_type(json.loads(path.read_text(encoding="utf-8")))
        with store.session() as session:
            try:
                devices.register_type(session, spec)
            except Conflict as exc:
                log.warning("demo: keeping the registered %s type: %s", spec.name, exc.message)
        names.append(spec.name)
    return names


def register_fleet(store: Store, transport: str, mqtt_url: str | None = None) -> FleetConfig:
    """Register the demo devices (or give existing ones a fresh credential) and return their config."""
    configs = []
    for entry in DEMO_DEVICES:
        with store.session() as session:
            if session.get(devices.Device, entry["id"]) is None:
                spec = devices.parse_device(
                    {
                        "id": entry["id"],
                        "type": entry["type"],
                        "location": entry["location"],
                        "transport": transport,
                    }
                )
                token = devices.create_device(session, spec).credential
            else:
                token = devices.rotate_credential(session, entry["id"])
        configs.append(
            DeviceConfig(
                id=entry["id"],
                type=entry["type"],
                token=token,
                transport=transport,  # type: ignore[arg-type]
                rate=entry["rate"],
                options=entry.get("options", {}),
            )
        )
    return FleetConfig(devices=configs, mqtt_url=mqtt_url or "mqtt://127.0.0.1:1883")


class DemoFleet:
    """A service component that registers the demo and runs its simulators on a thread."""

    name = "demo-fleet"

    def __init__(self, backends: Backends) -> None:
        self.backends = backends
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fleet: Fleet | None = None

    def start(self) -> None:
        """Register the types and devices, connect the simulators and start sending."""
        register_types(self.backends.store)
        mqtt_url: str = self.backends.config.mqtt_url
        config = register_fleet(self.backends.store, "mqtt" if mqtt_url else "kafka", mqtt_url or None)
        self.fleet = Fleet(config, bus=self.backends.bus)
        self.fleet.connect()
        self._thread = threading.Thread(
            target=self.fleet.run, args=(self._stop,), name=self.name, daemon=True
        )
        self._thread.start()
        log.info("demo: %d simulated devices at %s and %s", len(config.devices), LAB, PLANT)

    def stop(self) -> None:
        """Stop sending and disconnect the simulators."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.fleet is not None:
            self.fleet.close()


def demo_components(backends: Backends) -> list[Component]:
    """The demo as service components (for `canopy up --demo`)."""
    return [DemoFleet(backends)]
