"""The demo's app: fan-monitor at the plant, watching the failing fan and sounding the plant's buzzer.

Uploaded (once) by admin, who owns the demo's fan-anomaly model; one instance bound explicitly to
`plant-fan-2` (the fan that fails) and `plant-buzzer`, started by `canopy up --demo` unless it is
running (a restarted platform on the process runtime runs it again, with a fresh credential).
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select

from canopy.apps import instances
from canopy.apps.deploying import INSTANCE_REPLICAS, app_deploy_request
from canopy.apps.records import AppInstance, AppRecord
from canopy.apps.repository import AppRepository
from canopy.archive import package_zip
from canopy.bus.typed import publish
from canopy.deployments.records import live_endpoints, request_generation
from canopy.runtime.backends import Backends
from canopy.store.models import User

log = logging.getLogger(__name__)

DEMO_APP_NAME = "fan-monitor"
DEMO_APP_PACKAGE = Path(__file__).resolve().parents[1] / "examples/apps/fan-monitor"
DEMO_APP_BINDINGS = {"fan": "plant-fan-2", "buzzer": "plant-buzzer"}
OWNER = "admin"


def page_url(api_url: str, instance_id: str) -> str:
    """Where the gateway serves the instance's page."""
    return f"{api_url.rstrip('/')}/apps/{instance_id}/"


class DemoApp:
    """A service component that uploads fan-monitor (once), binds one instance at a location and starts it."""

    name = "demo-app"

    def __init__(self, backends: Backends, location: str) -> None:
        self.backends = backends
        self.location = instances.parse_location(location)

    def start(self) -> None:
        """Upload the app and create its instance if they are not there yet, then start it unless it runs."""
        if not DEMO_APP_PACKAGE.is_dir():
            log.warning("demo: %s is missing; no app runs", DEMO_APP_PACKAGE)
            return
        store = self.backends.store
        with store.session() as session:
            owner_id = session.scalar(select(User.id).filter_by(name=OWNER))
        if owner_id is None:
            log.warning("demo: no %s user; fan-monitor is not started", OWNER)
            return
        app_id = self._app(owner_id)
        instance_id = self._instance(app_id, owner_id)
        url = page_url(self.backends.config.api_url, instance_id)
        with store.session() as session:
            if live_endpoints(session, instance_id):
                log.info("demo: %s (%s) is running; its page: %s", DEMO_APP_NAME, instance_id, url)
                return
            instance = instances.get_instance(session, instance_id)
            generation = request_generation(session, instance.id, INSTANCE_REPLICAS, {})
            request = app_deploy_request(instance, generation, INSTANCE_REPLICAS, {})
        publish(self.backends.bus, request, key=request.model_id)
        self.backends.bus.flush()
        log.info("demo: starting %s (%s) at %s; its page: %s", DEMO_APP_NAME, instance_id, self.location, url)

    def _app(self, owner_id: int) -> str:
        """The id of admin's fan-monitor, uploaded now when it is not there yet."""
        with self.backends.store.session() as session:
            query = select(AppRecord.id).filter_by(name=DEMO_APP_NAME, owner_id=owner_id)
            found = session.scalar(query.order_by(AppRecord.created_at))
        if found is not None:
            return str(found)
        config = self.backends.config
        repository = AppRepository(self.backends.store, self.backends.blob, config.home / "uploads/apps")
        with package_zip(DEMO_APP_PACKAGE) as archive, archive.open("rb") as source:
            return repository.upload(source, owner_id=owner_id).id

    def _instance(self, app_id: str, owner_id: int) -> str:
        """The id of the demo's instance of the app at the location, created now when there is none."""
        with self.backends.store.session() as session:
            query = select(AppInstance.id).filter_by(app_id=app_id, owner_id=owner_id, location=self.location)
            found = session.scalar(query.order_by(AppInstance.created_at))
        if found is not None:
            return str(found)
        created = instances.create_instance(
            self.backends.store, app_id, owner_id, self.location, DEMO_APP_BINDINGS
        )
        return created.id

    def stop(self) -> None:
        """Nothing to release; the instance keeps running under the deployer like any other."""
