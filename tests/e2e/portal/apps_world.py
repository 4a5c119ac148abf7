"""What the app browser tests share: the demo's plant, a free buzzer there, and waiting for the demo's app."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from canopy.archive import zip_directory
from simulators.demo import PLANT
from simulators.demo_app import DEMO_APP_PACKAGE
from tests.deploy_helpers import wait_for
from tests.e2e.portal.conftest import Portal

PASSWORD = "portal-user-password-1"
# Building, placing and starting an app workload on the process runtime (caches shared, so seconds).
RUN_SECONDS = 300


def add_buzzer(portal: Portal, device_id: str) -> None:
    """Register one more BUZZER at the plant (the demo's own is held by its fan-monitor instance)."""
    created = portal.api(
        "POST", "/api/v1/devices", json={"id": device_id, "type": "BUZZER", "location": PLANT}
    )
    assert created.status_code == 201, created.text


def demo_app(portal: Portal) -> dict[str, Any]:
    """The demo's fan-monitor (admin's), once `canopy up --demo` has uploaded it."""

    def uploaded() -> dict[str, Any] | None:
        apps = portal.api("GET", "/api/v1/apps").json()["apps"]
        return next((app for app in apps if app["name"] == "fan-monitor" and app["owner"] == "admin"), None)

    found: dict[str, Any] = wait_for(uploaded, 120, "the demo to upload fan-monitor")
    return found


def fan_monitor_zip(folder: Path) -> Path:
    """The example fan-monitor zipped, calling the demo's model (admin's fan-anomaly) by owner/name."""
    source = folder / "fan-monitor"
    shutil.copytree(DEMO_APP_PACKAGE, source, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = json.loads((source / "app.json").read_text())
    manifest["models"][0]["ref"] = "admin/fan-anomaly"
    (source / "app.json").write_text(json.dumps(manifest, indent=2))
    target = folder / "fan-monitor.zip"
    zip_directory(source, target)
    return target
