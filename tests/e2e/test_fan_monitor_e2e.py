"""Acceptance on real infrastructure: fan-monitor beeps the buzzer within 10 s of a simulated fan failing.

Kafka, PostgreSQL, Azurite, Mosquitto (the fans and the buzzer are MQTT devices) and the docker
runtime for both the fan-anomaly model and the app.
"""

from __future__ import annotations

import subprocess
import uuid
from datetime import timedelta
from pathlib import Path

import docker
import pytest
import requests

from canopy.config import load_config
from canopy.roles import Role
from canopy.runtime.backends import open_backends
from canopy.workloads.docker_network import bridge_address, gateway_rule
from services.gateway import accounts
from tests.conftest import MqttBroker
from tests.deploy_helpers import running_platform, wait_for
from tests.e2e.test_apps_e2e import real_backends  # noqa: F401  (a fixture)
from tests.fan_monitor_world import (
    PlantDevices,
    assert_beeps_in_time,
    deploy_model_and_upload_app,
    device_manager,
    notifications,
    page_status,
    register_plant,
    run_instance,
    running_plant,
    watching_healthy,
)

USERS = {"admin-e2e": Role.PLATFORM_ADMIN, "user-end-user": Role.END_USER, "stranger": Role.END_USER}


@pytest.mark.timeout(1500)
def test_fan_monitor_on_docker_and_mqtt_beeps_within_10_s(
    real_backends: None,  # noqa: F811
    mqtt_broker: MqttBroker,
    canopy_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in mqtt_broker.settings().items():
        monkeypatch.setenv(key, value)
    run = uuid.uuid4().hex[:8]
    ids = PlantDevices(f"-{run}")
    backends = open_backends(load_config())
    with backends.store.session() as session:
        tokens = {
            name: accounts.issue_token(
                session, accounts.create_user(session, name, role, "password-123"), timedelta(hours=1)
            ).secret
            for name, role in USERS.items()
        }
    owner = tokens["user-end-user"]
    credentials = register_plant(backends, "mqtt", ids)
    port, workloads = 0, []
    try:
        with (
            running_platform(backends, canopy_home, "docker", host="0.0.0.0") as gateway,
            device_manager(backends, run),
            running_plant(backends, ids, credentials, "mqtt", mqtt_broker.url) as plant,
        ):
            api, port = f"http://127.0.0.1:{gateway.port}", gateway.port
            model_id, app_id = deploy_model_and_upload_app(api, tokens["admin-e2e"], timeout=900)
            workloads.append(model_id)
            instance_id, view = run_instance(api, owner, app_id, ids.failing_fan, timeout=600)
            workloads.append(instance_id)
            assert view["status"] == "ready", view
            page = view["page_url"]
            watching_healthy(page, owner, timeout=180)
            assert plant.commands == []

            assert_beeps_in_time(plant, "docker, Kafka, PostgreSQL, Azurite, MQTT")

            status = wait_for(lambda: page_status(page, owner), 10, "the status page")
            assert status["alarm"] and status["episodes"] == 1
            html = requests.get(page, headers={"Authorization": f"Bearer {owner}"}, timeout=10)
            assert html.status_code == 200 and "fan-monitor: ALARM" in html.text
            stranger = {"Authorization": f"Bearer {tokens['stranger']}"}
            assert requests.get(page, headers=stranger, timeout=10).status_code == 403

        (sent,) = notifications(backends, instance_id, f"e2e-fan-notifications-{run}")
        assert sent.subject.startswith("Fan failure predicted") and sent.user == "user-end-user", sent
    finally:
        client = docker.from_env()
        for workload in workloads:
            for container in client.containers.list(all=True, filters={"label": f"canopy.model={workload}"}):
                container.remove(force=True)
        if port:
            rule = gateway_rule(bridge_address(client), port)
            subprocess.run(["iptables", "-w", "-D", *rule], check=False, capture_output=True)
        mqtt_broker.clean_up([f"e2e-fan-dm-{run}", *credentials], credentials)
        backends.close()
