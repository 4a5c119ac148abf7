"""`canopy up --demo` runs fan-monitor at the plant, bound to the failing fan, and again after a restart."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from canopy.workloads.process_runtime import free_port
from simulators.demo import PLANT
from tests.deploy_helpers import canopy_up_demo, share_build_caches, wait_for

PASSWORD = "demo-admin-password-1"
PAGE_LINE = re.compile(r"demo: (starting|fan-monitor \(\w+\) is running)[^\n]*its page: (\S+/apps/(\w+)/)")


def page_logged(log: Path, process: subprocess.Popen[bytes]) -> tuple[str, str, str]:
    """Wait for the demo to log fan-monitor's page: (what it did, the page URL, the instance id)."""

    def logged() -> tuple[str, str, str] | None:
        assert process.poll() is None, log.read_text()
        found = PAGE_LINE.search(log.read_text(errors="replace"))
        return (found.group(1), found.group(2), found.group(3)) if found else None

    result: tuple[str, str, str] = wait_for(logged, 60, f"the demo to log fan-monitor's page in {log}")
    return result


def scoring(page: str, token: str) -> dict[str, Any]:
    """Wait until the app's page shows predictions of its fan's readings (the model answers it)."""

    def scored() -> dict[str, Any] | None:
        try:
            reply = requests.get(f"{page}status", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        except requests.ConnectionError:
            return None
        status: dict[str, Any] | None = reply.json() if reply.status_code == 200 else None
        return status if status and status["latest"] else None

    found: dict[str, Any] = wait_for(scored, 240, f"fan-monitor's page {page} to show predictions", 1.0)
    return found


@pytest.mark.timeout(900)
def test_the_demo_runs_fan_monitor_at_the_plant_once_across_restarts(
    canopy_home: Path, tmp_path: Path
) -> None:
    share_build_caches(canopy_home)
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CANOPY_API_PORT": str(port),
        "CANOPY_API_URL": api,
        "CANOPY_ADMIN_PASSWORD": PASSWORD,
    }
    with canopy_up_demo(env, tmp_path / "first.log") as process:
        action, page, instance_id = page_logged(tmp_path / "first.log", process)
        assert action == "starting" and page == f"{api}/apps/{instance_id}/"
        login = requests.post(
            f"{api}/api/v1/auth/login", json={"user": "admin", "password": PASSWORD}, timeout=10
        )
        token = login.json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        first = scoring(page, token)
        assert first["threshold"] == 0.8 and set(first["latest"]["reading"]) == {
            "rpm",
            "vibration",
            "temperature",
            "sound",
        }
        (instance,) = requests.get(f"{api}/api/v1/app-instances", headers=headers, timeout=10).json()[
            "instances"
        ]
        assert instance["id"] == instance_id and instance["location"] == PLANT
        bound = {role: binding["device"] for role, binding in instance["bindings"].items()}
        assert bound == {"fan": "plant-fan-2", "buzzer": "plant-buzzer"}

    with canopy_up_demo(env, tmp_path / "second.log") as process:
        action, page_again, again = page_logged(tmp_path / "second.log", process)
        # Process workloads end with the platform: the same instance is started again, not a new one.
        assert (action, page_again, again) == ("starting", page, instance_id)
        scoring(page, token)
        apps = requests.get(f"{api}/api/v1/apps", headers=headers, timeout=10).json()["apps"]
        assert [a["name"] for a in apps] == ["fan-monitor"]
        instances = requests.get(f"{api}/api/v1/app-instances", headers=headers, timeout=10).json()
        assert [i["id"] for i in instances["instances"]] == [instance_id]
