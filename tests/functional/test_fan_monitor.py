"""Acceptance: fan-monitor at a location where a simulated fan starts failing commands the buzzer within 10 s.

Embedded backends (SQLite bus and store, file blobs) and the process runtime; the fan and buzzer
simulators speak over the bus as kafka-transport devices do.
"""

from __future__ import annotations

from pathlib import Path

import requests

from canopy.roles import Role
from canopy.runtime.backends import Backends
from tests.deploy_helpers import running_platform, wait_for
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
from tests.functional.conftest import bearer


def test_fan_monitor_beeps_the_buzzer_within_10_s_of_the_fan_failing(
    backends: Backends, canopy_home: Path, role_tokens: dict[Role, str]
) -> None:
    admin, owner = role_tokens[Role.PLATFORM_ADMIN], role_tokens[Role.END_USER]
    ids = PlantDevices()
    credentials = register_plant(backends, "kafka", ids)
    with (
        running_platform(backends, canopy_home, "process") as gateway,
        device_manager(backends),
        running_plant(backends, ids, credentials, "kafka") as plant,
    ):
        api = gateway.url
        _, app_id = deploy_model_and_upload_app(api, admin, timeout=900)
        instance_id, view = run_instance(api, owner, app_id, ids.failing_fan, timeout=300)
        assert view["status"] == "ready", view
        page = view["page_url"]
        assert page == f"{api}/apps/{instance_id}/"
        watching_healthy(page, owner, timeout=120)
        assert plant.commands == []

        assert_beeps_in_time(plant, "process runtime, embedded backends")

        status = wait_for(lambda: page_status(page, owner), 10, "the status page")
        assert status["alarm"] and status["episodes"] == 1 and status["latest"]["failure_probability"] >= 0.8
        html = requests.get(page, headers=bearer(owner), timeout=10)
        assert html.status_code == 200 and "fan-monitor: ALARM" in html.text
        stranger = bearer(role_tokens[Role.AI_DEVELOPER])
        assert requests.get(page, headers=stranger, timeout=10).status_code == 403

    (sent,) = notifications(backends, instance_id, "test-fan-monitor")
    assert sent.subject.startswith("Fan failure predicted") and sent.user == "user-end-user", sent
