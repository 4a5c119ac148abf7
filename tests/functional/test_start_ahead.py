"""A booked start prepared ahead (process runtime, embedded backends): placed and built early, then run."""

from __future__ import annotations

from pathlib import Path

import requests

from canopy.apps.deploying import app_deploy_request
from canopy.apps.records import AppInstance
from canopy.bus.typed import publish
from canopy.contracts import topics
from canopy.contracts.deploy import DeploymentEvent, PlacementDecision, PlacementRequest
from canopy.deployments.tables import Node
from canopy.roles import Role
from canopy.runtime.backends import Backends
from tests.app_run_helpers import page_app, settled, store_instance
from tests.booking_world import drain
from tests.deploy_helpers import running_platform, wait_for
from tests.functional.conftest import bearer


def test_a_prepared_instance_is_placed_and_built_ahead_and_its_start_only_starts_it(
    backends: Backends, canopy_home: Path, role_tokens: dict[Role, str]
) -> None:
    owner = role_tokens[Role.END_USER]
    instance_id = store_instance(backends, *page_app(), "user-app-developer", "user-end-user")
    with running_platform(backends, canopy_home, "process") as gateway:
        api = f"http://127.0.0.1:{gateway.port}"

        def node_reported() -> bool:  # a preparation finding no live node is not retried: its start is
            with backends.store.session() as session:
                return session.get(Node, "node-a") is not None

        wait_for(node_reported, 60, "the first report of node-a")
        with backends.store.session() as session:
            instance = session.get(AppInstance, instance_id)
            assert instance is not None
            prepare = app_deploy_request(instance, 1, 0, {}).model_copy(update={"prepare": True})
        publish(backends.bus, prepare, key=instance_id)
        backends.bus.flush()

        def placed() -> bool:
            found = drain(backends.bus, topics.PLACEMENT)
            return any(
                isinstance(m, PlacementDecision) and m.model_id == instance_id and m.nodes for m in found
            )

        wait_for(placed, 60, f"the placement of {instance_id} ahead of its start")
        reply = requests.post(
            f"{api}/api/v1/app-instances/{instance_id}/start", headers=bearer(owner), timeout=10
        )
        assert reply.status_code == 202, reply.text
        view = settled(api, owner, instance_id, reply.json()["generation"])
        assert view["status"] == "ready", view
        assert (
            requests.get(f"{api}/apps/{instance_id}/", headers=bearer(owner), timeout=10).status_code == 200
        )
    asked = [m for m in drain(backends.bus, topics.PLACEMENT) if isinstance(m, PlacementRequest)]
    assert [m.model_id for m in asked].count(instance_id) == 1  # the start placed nothing again
    events = [m for m in drain(backends.bus, topics.DEPLOY_EVENTS) if isinstance(m, DeploymentEvent)]
    stages = [(m.stage, m.message) for m in events if m.model_id == instance_id and m.generation == 1]
    assert ("placing", "placed and built ahead on node-a") in stages, stages
    assert not any(stage == "building" for stage, _ in stages), stages
