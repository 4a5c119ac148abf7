"""Acceptance: the original platform's weather app runs unchanged on the embedded defaults.

Process runtime, SQLite store and bus, and the instance's FerretDB on its SQLite handler.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from canopy.roles import Role
from canopy.runtime.backends import Backends
from services.device_manager.service import device_manager_components
from tests.deploy_helpers import running_platform, wait_for
from tests.integration.test_app_database import link_ferretdb
from tests.legacy_weather_flow import Tokens, run_weather_station, stop_then_remove


def test_the_legacy_weather_app_runs_writes_its_database_and_serves_its_page(
    backends: Backends,
    canopy_home: Path,
    role_tokens: dict[Role, str],
    ferretdb_binary: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    link_ferretdb(canopy_home, ferretdb_binary)
    tokens = Tokens(
        role_tokens[Role.PLATFORM_ADMIN], role_tokens[Role.END_USER], role_tokens[Role.AI_DEVELOPER]
    )
    device_manager = device_manager_components(backends)
    for component in device_manager:
        component.start()
    try:
        with running_platform(backends, canopy_home, "process") as gateway:
            figures = run_weather_station(gateway.url, tokens, backends, uuid.uuid4().hex[:8], caplog)
            database = canopy_home / "databases" / figures.instance_id
            assert (database / "data").is_dir(), "the instance's FerretDB keeps no SQLite data"
            stop_then_remove(gateway.url, tokens, figures.instance_id)
            wait_for(lambda: not database.exists(), 30, "the removed instance's database to be dropped")
    finally:
        for component in reversed(device_manager):
            component.stop()
    print(
        f"\nlegacy-weather (process, FerretDB sqlite): first DISPLAY command "
        f"{figures.first_command_seconds:.1f} s after start, FerretDB up in "
        f"{figures.ferretdb_start_seconds:.2f} s, counters {figures.counts}"
    )
