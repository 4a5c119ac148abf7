"""An app on Kafka, PostgreSQL, Azurite and the docker runtime: it reaches the gateway and nothing else."""

from __future__ import annotations

import socket
import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import docker
import pytest
import requests
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from bootstrap.infra.kafka.credentials import KafkaCredentials
from canopy.config import load_config
from canopy.roles import Role
from canopy.runtime.backends import open_backends
from canopy.workloads.base_images import build_base_image
from canopy.workloads.docker_network import gateway_rule
from services.gateway import accounts
from tests.app_run_helpers import page_app, settled, store_instance
from tests.conftest import kafka_environment
from tests.deploy_helpers import running_platform
from tests.e2e.test_models_e2e import _schema_url

USERS = {"user-app-developer": Role.APP_DEVELOPER, "user-end-user": Role.END_USER, "stranger": Role.END_USER}


@pytest.fixture()
def real_backends(
    kafka_url: str,
    kafka_logins: KafkaCredentials,
    postgres_url: str,
    azurite_connection_string: str,
    docker_socket: str,
    canopy_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[None]:
    """CANOPY_* settings for Kafka, a PostgreSQL schema of this run and an Azurite container."""
    build_base_image("3.11", Path(load_config().rootfs_dir))  # a no-op when the image is cached
    run = uuid.uuid4().hex[:8]
    schema = f"e2e_apps_{run}"
    admin = create_engine(make_url(postgres_url).set(drivername="postgresql+psycopg"))
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    kafka_environment(monkeypatch, kafka_url, kafka_logins)
    monkeypatch.setenv("CANOPY_DB_URL", _schema_url(postgres_url, schema))
    monkeypatch.setenv("CANOPY_BLOB_URL", f"azure://e2e-apps-{run}")
    monkeypatch.setenv("CANOPY_AZURE_CONNECTION_STRING", azurite_connection_string)
    try:
        yield
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


def test_a_docker_app_reaches_the_gateway_and_no_other_host_port_and_serves_its_page(
    real_backends: None, canopy_home: Path
) -> None:
    backends = open_backends(load_config())
    with backends.store.session() as session:
        tokens = {
            name: accounts.issue_token(
                session, accounts.create_user(session, name, role, "password-123"), timedelta(hours=1)
            ).secret
            for name, role in USERS.items()
        }
    owner = {"Authorization": f"Bearer {tokens['user-end-user']}"}
    instance_id = store_instance(backends, *page_app(), "user-app-developer", "user-end-user")
    other_port = socket.socket()
    other_port.bind(("0.0.0.0", 0))  # a host service no workload may reach
    other_port.listen()
    try:
        with running_platform(backends, canopy_home, "docker", host="0.0.0.0") as gateway:
            api = f"http://127.0.0.1:{gateway.port}"
            reply = requests.post(
                f"{api}/api/v1/app-instances/{instance_id}/start", headers=owner, timeout=10
            )
            assert reply.status_code == 202, reply.text
            view = settled(api, tokens["user-end-user"], instance_id, reply.json()["generation"], timeout=600)
            assert view["status"] == "ready", view
            page = view["page_url"]
            seen = requests.get(page, headers=owner, timeout=10)
            assert seen.status_code == 200, seen.text
            env = seen.json()["env"]
            bridge = urlsplit(env["CANOPY_API_URL"])
            assert bridge.hostname != "127.0.0.1" and bridge.port == gateway.port
            assert env["CANOPY_INSTANCE_ID"] == instance_id and env["CANOPY_TOKEN"].startswith("cni_")
            probe = f"{page}gateway?port={other_port.getsockname()[1]}"
            reached = requests.get(probe, headers=owner, timeout=30).json()
            assert reached == {"gateway": 200, "other_port": "TimeoutError"}, reached  # dropped
            stranger = {"Authorization": f"Bearer {tokens['stranger']}"}
            assert requests.get(page, headers=stranger, timeout=10).status_code == 403
    finally:
        other_port.close()
        for container in docker.from_env().containers.list(
            all=True, filters={"label": f"canopy.model={instance_id}"}
        ):
            container.remove(force=True)
        if "bridge" in locals():
            rule = gateway_rule(str(bridge.hostname), int(bridge.port or 0))
            subprocess.run(["iptables", "-w", "-D", *rule], check=False, capture_output=True)
        backends.close()
