"""`canopy infra` against the real components: status, idempotent up, ownership records, bounce."""

from __future__ import annotations

import json
import os
import smtplib
import subprocess
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner

from bootstrap.infra import NAMES, down, status, up
from bootstrap.infra.base import InfraPaths, load_ownership
from bootstrap.infra.cli import infra
from bootstrap.infra.ferretdb import FerretDB
from bootstrap.infra.kafka import STORAGE_TOOL, Kafka, server_properties
from bootstrap.infra.kafka.credentials import KafkaCredentials, create_credentials
from canopy.bus.kafka import sasl_settings
from tests.conftest import Mailpit, require

EXPECTED = {
    "kafka": "127.0.0.1:9092",
    "postgres": "127.0.0.1:5432",
    "azurite": "127.0.0.1:10000",
    "mosquitto": "127.0.0.1:1883",
    "docker": "unix:///var/run/docker.sock",
    "mailpit": "127.0.0.1:1025",  # SMTP; its web inbox and API on 127.0.0.1:8025
    "ferretdb": FerretDB(InfraPaths.default()).address,  # a binary the node agents run per app instance
}

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.postgres,
    pytest.mark.azurite,
    pytest.mark.mosquitto,
    pytest.mark.docker,
    pytest.mark.mailpit,
]


@pytest.fixture()
def all_up(
    kafka_url: str,
    postgres_url: str,
    azurite_connection_string: str,
    mqtt_url: str,
    docker_socket: str,
    ferretdb_binary: Path,
    mailpit: Mailpit,
) -> None:
    """Every component is reachable (skips, or fails under CI=true, otherwise)."""


@pytest.mark.usefixtures("all_up")
def test_status_reports_every_component_up_at_its_address() -> None:
    rows = status()
    assert [row.name for row in rows] == list(NAMES)
    assert {row.name: row.address for row in rows} == EXPECTED
    assert [row.name for row in rows if not row.up] == []


@pytest.mark.usefixtures("all_up")
def test_second_up_is_idempotent_and_fast(capsys: pytest.CaptureFixture[str]) -> None:
    before = {row.name: row.started_by_canopy for row in status()}
    started = time.monotonic()
    up()
    assert time.monotonic() - started < 20
    out = capsys.readouterr().out
    for name in NAMES:
        verb = "already built at" if name == "ferretdb" else "already up on"
        assert f"{name}: {verb} {EXPECTED[name]}" in out
    assert {row.name: row.started_by_canopy for row in status()} == before


@pytest.mark.usefixtures("all_up")
def test_state_dir_records_ownership() -> None:
    paths = InfraPaths.default()
    for row in status():
        record = load_ownership(paths, row.name)
        if row.started_by_canopy and row.serves:
            assert record is not None and record.alive(), row.name
            body = json.loads((paths.state / f"{row.name}.json").read_text())
            assert body["pid"] == record.pid and body["name"] == row.name
            assert (paths.logs / f"{row.name}.log").exists()
        else:
            assert record is None or not record.alive(), row.name


@pytest.mark.usefixtures("all_up")
def test_cli_status_prints_a_table_and_exits_0() -> None:
    result = CliRunner().invoke(infra, ["status"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[:3] for line in lines[: len(NAMES)]] == [
        [name, "up", EXPECTED[name]] for name in NAMES
    ]
    assert lines[len(NAMES) : len(NAMES) + 2] == [
        "",
        "CANOPY_DB_URL=postgresql://canopy:***@127.0.0.1:5432/canopy  (--show-secrets shows the password)",
    ]
    assert "SASL/SCRAM-SHA-512" in result.output and 'eval "$(canopy infra env)"' in result.output


def test_cli_env_prints_every_engine_with_the_platform_logins(kafka_logins: KafkaCredentials) -> None:
    result = CliRunner().invoke(infra, ["env"])
    assert result.exit_code == 0, result.output
    exports = dict(line.removeprefix("export ").split("=", 1) for line in result.output.splitlines())
    assert exports["CANOPY_KAFKA_USERNAME"] == kafka_logins.platform_user
    assert exports["CANOPY_KAFKA_PASSWORD"] == kafka_logins.platform_password
    assert exports["CANOPY_BUS_URL"] == f"kafka://{EXPECTED['kafka']}"
    assert exports["CANOPY_DB_URL"].startswith("postgresql://canopy:")
    assert exports["CANOPY_MQTT_URL"] == f"mqtt://{EXPECTED['mosquitto']}"
    assert exports["CANOPY_MQTT_PASSWORD"] and exports["CANOPY_BLOB_URL"] == "azure://canopy"
    assert exports["CANOPY_MAIL_URL"] == f"smtp://{EXPECTED['mailpit']}"
    credentials = InfraPaths.default().cache("kafka") / "credentials.json"
    assert os.stat(credentials).st_mode & 0o777 == 0o600


def test_cli_rejects_unknown_component() -> None:
    result = CliRunner().invoke(infra, ["up", "redis"])
    assert result.exit_code == 2
    assert "redis" in result.output


@pytest.mark.usefixtures("all_up")
@pytest.mark.skipif(
    os.environ.get("CI") != "true" and os.environ.get("TEST_INFRA_BOUNCE") != "1",
    reason="bounces the shared broker; runs under CI=true or TEST_INFRA_BOUNCE=1",
)
def test_kafka_bounce_keeps_topics(kafka_logins: KafkaCredentials) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    login = sasl_settings(kafka_logins.admin_user, kafka_logins.admin_password)
    require(
        "A Kafka broker started by canopy (so it can be bounced)",
        next(row for row in status() if row.name == "kafka").started_by_canopy,
    )
    topic = f"infra-bounce-{os.getpid()}"
    admin = AdminClient({"bootstrap.servers": EXPECTED["kafka"], **login})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(timeout=30)
    down(["kafka"])
    assert not next(row for row in status() if row.name == "kafka").up
    up(["kafka"])
    metadata = AdminClient({"bootstrap.servers": EXPECTED["kafka"], **login}).list_topics(timeout=10)
    assert topic in metadata.topics
    for future in admin.delete_topics([topic]).values():
        future.result(timeout=30)
    assert Path(InfraPaths.default().state / "kafka.json").exists()


@pytest.mark.usefixtures("all_up")
@pytest.mark.skipif(
    os.environ.get("CI") != "true" and os.environ.get("TEST_INFRA_BOUNCE") != "1",
    reason="bounces the shared Mailpit; runs under CI=true or TEST_INFRA_BOUNCE=1",
)
def test_mailpit_bounce_keeps_its_messages(mailpit: Mailpit) -> None:
    require(
        "A Mailpit started by canopy (so it can be bounced)",
        next(row for row in status() if row.name == "mailpit").started_by_canopy,
    )
    address = f"bounce-{os.getpid()}-{time.monotonic_ns()}@example.org"
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "canopy@localhost", address, "kept across a bounce"
    message.set_content("hello")
    with smtplib.SMTP("127.0.0.1", 1025, timeout=10) as client:
        client.send_message(message)
    assert len(mailpit.wait_for(f'to:"{address}"')) == 1
    down(["mailpit"])
    assert not next(row for row in status() if row.name == "mailpit").up
    up(["mailpit"])
    (kept,) = mailpit.wait_for(f'to:"{address}"', timeout=5)
    assert kept["Subject"] == "kept across a bounce"


@pytest.mark.usefixtures("kafka_url")  # its jars are fetched
def test_the_storage_tool_formats_with_a_cluster_id_led_by_a_dash_in_the_compose_script_form(
    tmp_path: Path,
) -> None:
    kafka = Kafka(InfraPaths.default())
    properties = tmp_path / "server.properties"
    properties.write_text(
        server_properties(tmp_path / "data", create_credentials(tmp_path / "credentials.json"), 39092, 39093)
    )
    cluster_id = "-" + "A" * 21
    java = kafka._java(STORAGE_TOOL, "format", "-c", str(properties))  # the command canopy infra runs
    refused = subprocess.run([*java, "-t", cluster_id], capture_output=True, text=True, check=False)
    assert "expected one argument" in refused.stderr, "the short form reads the id as an option"
    subprocess.run([*java, f"--cluster-id={cluster_id}"], capture_output=True, check=True)
    assert f"cluster.id={cluster_id}" in (tmp_path / "data/meta.properties").read_text()
