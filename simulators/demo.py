"""The demo fleet of `canopy up --demo`: device types and a few devices at two locations, simulated."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import select

from canopy import devices
from canopy.archive import package_zip
from canopy.bus.typed import publish
from canopy.config import Config
from canopy.deployments.records import build_deploy_request, live_endpoints
from canopy.errors import Conflict
from canopy.models import ModelRecord
from canopy.models.repository import ModelRepository
from canopy.runtime import Component
from canopy.runtime.backends import Backends
from canopy.store import Store
from canopy.store.models import User
from canopy.telemetry.device_logins import grant_login
from canopy.telemetry.mqtt_accounts import device_accounts
from simulators import TYPES_DIR
from simulators.config import DeviceConfig, FleetConfig
from simulators.demo_app import DemoApp
from simulators.runner import Fleet

log = logging.getLogger(__name__)

DEMO_MODEL_NAME = "fan-anomaly"
DEMO_MODEL_PACKAGE = Path(__file__).resolve().parents[1] / "examples/models/fan-anomaly/package"

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


def register_fleet(
    store: Store, transport: str, settings: Config, mqtt_url: str | None = None
) -> FleetConfig:
    """Register the demo devices (or give existing ones a fresh credential and broker login)."""
    accounts = device_accounts(settings)
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
            grant_login(settings, accounts, entry["id"], transport, token)
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
        settings = self.backends.config
        mqtt_url: str = settings.mqtt_url
        transport = "mqtt" if mqtt_url else "kafka"
        config = register_fleet(self.backends.store, transport, settings, mqtt_url or None)
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


class DemoModel:
    """A service component that uploads the fan-anomaly example model (once) and deploys it unless it runs."""

    name = "demo-model"

    def __init__(self, backends: Backends) -> None:
        self.backends = backends

    def start(self) -> None:
        """Upload the package if it is not there yet, then ask for one replica when none is ready."""
        if not DEMO_MODEL_PACKAGE.is_dir():
            log.warning("demo: %s is missing; no model deployed", DEMO_MODEL_PACKAGE)
            return
        store = self.backends.store
        with store.session() as session:
            record = session.scalar(select(ModelRecord).filter_by(name=DEMO_MODEL_NAME))
            admin_id = session.scalar(select(User.id).filter_by(name="admin"))
        if record is None:
            repository = ModelRepository(
                store, self.backends.blob, self.backends.config.home / "uploads/models"
            )
            with package_zip(DEMO_MODEL_PACKAGE) as archive, archive.open("rb") as source:
                record = repository.upload(source, owner_id=admin_id or 0)
        with store.session() as session:
            if live_endpoints(session, record.id):
                return  # still running (a docker replica outlives the platform; a process one does not)
            request = build_deploy_request(session, record, replicas=1, labels={})
        publish(self.backends.bus, request, key=request.model_id)
        self.backends.bus.flush()
        log.info(
            "demo: deploying model %s (%s); try `canopy model predict %s`",
            DEMO_MODEL_NAME,
            record.id,
            DEMO_MODEL_NAME,
        )

    def stop(self) -> None:
        """Nothing to release; the deployment outlives the demo process like any other."""


def demo_components(backends: Backends) -> list[Component]:
    """The demo as service components (for `canopy up --demo`): devices, then the model, then the app."""
    return [DemoFleet(backends), DemoModel(backends), DemoApp(backends, PLANT)]
