"""Acceptance on Kafka, PostgreSQL and Azurite: the original platform's weather app, unchanged.

The instance's FerretDB keeps its data in a PostgreSQL database of its own, dropped with the instance.
It runs on the process runtime and on docker, where the app reaches the model through the gateway's
model-call route (its network reaches the gateway and nothing else).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import docker
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from canopy.apps.database_plan import pg_database_name
from canopy.config import load_config
from canopy.roles import Role
from canopy.runtime.backends import Backends, open_backends
from services.device_manager.service import Placement, device_manager_components
from services.gateway import accounts
from tests.deploy_helpers import running_platform, wait_for
from tests.e2e.test_apps_e2e import real_backends  # noqa: F401  (the fixture)
from tests.integration.test_app_database import link_ferretdb
from tests.legacy_weather_flow import Tokens, run_weather_station, stop_then_remove

USERS = {"admin-e2e": Role.PLATFORM_ADMIN, "owner-e2e": Role.END_USER, "other-e2e": Role.END_USER}


@pytest.fixture()
def platform_backends(real_backends: None) -> Iterator[Backends]:  # noqa: F811
    """The real backends opened, with an admin, the instance's owner and another user."""
    backends = open_backends(load_config())
    try:
        yield backends
    finally:
        backends.close()


def _tokens(backends: Backends) -> Tokens:
    """Create the USERS and issue each a token."""
    with backends.store.session() as session:
        issued = {
            name: accounts.issue_token(
                session, accounts.create_user(session, name, role, "password-123"), timedelta(hours=1)
            ).secret
            for name, role in USERS.items()
        }
    return Tokens(issued["admin-e2e"], issued["owner-e2e"], issued["other-e2e"])


@pytest.mark.parametrize("runtime", ["process", "docker"])
def test_the_legacy_weather_app_runs_with_its_database_on_postgresql(
    runtime: str,
    platform_backends: Backends,
    canopy_home: Path,
    postgres_url: str,
    ferretdb_binary: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    backends, run = platform_backends, uuid.uuid4().hex[:8]
    link_ferretdb(canopy_home, ferretdb_binary)
    tokens = _tokens(backends)
    placement = Placement(group=f"test-dm-{run}", mqtt_client_id=f"test-dm-{run}", from_beginning=False)
    device_manager = device_manager_components(backends, placement=placement)
    for component in device_manager:
        component.start()
    server = create_engine(make_url(postgres_url).set(drivername="postgresql+psycopg"))
    workloads: list[str] = []
    try:
        with running_platform(backends, canopy_home, runtime, host="0.0.0.0") as gateway:
            api = f"http://127.0.0.1:{gateway.port}"
            figures = run_weather_station(api, tokens, backends, run, caplog, workloads)
            name = pg_database_name(figures.instance_id)

            def exists() -> bool:
                """Whether the instance's PostgreSQL database exists."""
                with server.connect() as conn:
                    found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
                    return found.first() is not None

            assert exists(), f"the instance's FerretDB keeps no PostgreSQL database {name}"
            stop_then_remove(api, tokens, figures.instance_id)
            wait_for(lambda: not exists(), 30, f"PostgreSQL database {name} to be dropped")
    finally:
        for component in reversed(device_manager):
            component.stop()
        server.dispose()
        client = docker.from_env()
        for workload in workloads if runtime == "docker" else []:
            for container in client.containers.list(all=True, filters={"label": f"canopy.model={workload}"}):
                last = container.logs(tail=15).decode(errors="replace")
                print(f"---- last lines of {container.name}:\n{last}")
                container.remove(force=True)
    print(
        f"\nlegacy-weather ({runtime}, FerretDB postgresql): first DISPLAY command "
        f"{figures.first_command_seconds:.1f} s after start, FerretDB up in "
        f"{figures.ferretdb_start_seconds:.2f} s, counters {figures.counts}"
    )
