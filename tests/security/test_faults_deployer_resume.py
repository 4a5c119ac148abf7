"""A deploy request left unfinished is resumed by the next deployer, which waits for a late node."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from canopy.contracts import topics
from canopy.deployments.records import platform_group
from canopy.roles import Role
from canopy.runtime import Service
from canopy.runtime.backends import Backends
from services.deployer.service import deployer_components
from services.node_agent.service import agent_components
from services.node_manager.service import node_manager_components
from tests.deploy_helpers import IRIS_PACKAGE, enrolled_key, share_build_caches, wait_for, zip_package
from tests.functional.conftest import bearer


def _take_and_lose_the_request(backends: Backends) -> None:
    """Do what a deployer that stops right after consuming does: commit the request, do nothing."""
    group = platform_group("deployer", backends.config.db_url)
    consumer = backends.bus.consumer(group, [topics.DEPLOY_REQUESTS])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            record = consumer.poll(0.5)
            if record is not None:
                consumer.commit(record)
                return
        raise AssertionError("the gateway published no deploy request")
    finally:
        consumer.close()


def test_a_deployment_left_requested_reaches_ready_when_a_fresh_deployer_starts(
    backends: Backends, client: FlaskClient, role_tokens: dict[Role, str], canopy_home: Path
) -> None:
    headers = bearer(role_tokens[Role.AI_DEVELOPER])
    reply = client.post(
        "/api/v1/models",
        data={"file": (io.BytesIO(zip_package(IRIS_PACKAGE)), "package.zip")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert reply.status_code == 201, reply.get_json()
    model_id = reply.get_json()["id"]
    reply = client.post(f"/api/v1/models/{model_id}/deploy", json={"replicas": 1}, headers=headers)
    assert reply.status_code == 202, reply.get_json()
    _take_and_lose_the_request(backends)

    def view() -> dict[str, Any]:
        shown: dict[str, Any] = client.get(
            f"/api/v1/models/{model_id}/deployment", headers=headers
        ).get_json()
        return shown

    assert view()["status"] == "requested"
    share_build_caches(canopy_home)
    platform = Service("fresh-platform", [*node_manager_components(backends), *deployer_components(backends)])
    agent = Service(
        "late-agent",
        agent_components(backends, "node-a", enrolled_key(backends, "node-a"), runtime="process"),
    )
    platform.start()
    try:
        # The agent joins after the deployer resumed: the deployment waits for it instead of failing.
        wait_for(lambda: view()["status"] == "placing", 120, "the resumed deployment to ask for a node")
        time.sleep(3)
        agent.start()
        final = wait_for(lambda: (v := view())["status"] in ("ready", "failed") and v, 300, "the deployment")
        assert final["status"] == "ready", final["events"]
        assert len(final["endpoints"]) == 1
        assert any("waiting up to" in event["message"] for event in final["events"]), final["events"]
    finally:
        agent.stop()
        platform.stop()
