"""Pure helpers of `canopy infra`: generated configs, parsers, ownership records, process helpers."""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from bootstrap.infra.azurite import azurite_args
from bootstrap.infra.base import (
    ComponentStatus,
    InfraError,
    InfraPaths,
    clear_ownership,
    load_ownership,
    save_ownership,
)
from bootstrap.infra.dockerd import ping
from bootstrap.infra.kafka import (
    SINGLE_NODE,
    broker_port,
    java_major,
    kafka_version,
    log4j_config,
    new_cluster_id,
    pom_text,
    server_properties,
)
from bootstrap.infra.kafka.credentials import (
    KafkaCredentials,
    create_credentials,
    credentials_path,
    load_credentials,
)
from bootstrap.infra.manager import NAMES, format_status, resolve
from bootstrap.infra.mosquitto import mosquitto_conf, mqtt_accepts
from bootstrap.infra.mosquitto_auth import connect_packet
from bootstrap.infra.packages import find_binary, missing_packages
from bootstrap.infra.postgres import parse_lsclusters, pick_cluster
from bootstrap.infra.process import is_running, spawn_detached, tail, terminate


def _props(text: str) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")]
    return {key: value for key, value in pairs}


LOGINS = KafkaCredentials("admin-secret", "platform-secret", "controller-secret")


def test_server_properties_single_kraft_node_on_loopback(tmp_path: Path) -> None:
    props = _props(server_properties(tmp_path / "data", LOGINS))
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["listeners"] == "SASL_PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert props["advertised.listeners"].startswith("SASL_PLAINTEXT://127.0.0.1:9092")
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == str(tmp_path / "data")
    assert props["num.partitions"] == "3"
    assert props["auto.create.topics.enable"] == "false"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert int(props["broker.session.timeout.ms"]) >= 30_000  # a paused lone broker is not fenced
    assert props["min.insync.replicas"] == "1"
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "default.replication.factor",
    ):
        assert props[key] == "1", key


def test_server_properties_require_sasl_and_acls_with_no_anonymous_access(tmp_path: Path) -> None:
    props = _props(server_properties(tmp_path / "data", LOGINS))
    assert (
        props["listener.security.protocol.map"] == "CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT"
    )
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:canopy-admin;User:controller"
    assert 'password="admin-secret"' in props["listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config"]
    assert 'user_controller="controller-secret"' in props["listener.name.controller.plain.sasl.jaas.config"]
    assert "PLAINTEXT://" not in props["listeners"].replace("SASL_PLAINTEXT://", "")


def test_kafka_listens_on_the_port_of_a_local_kafka_bus_url() -> None:
    assert broker_port("kafka://127.0.0.1:19092") == 19092
    assert broker_port("kafka://10.0.0.1:19092") == 9092
    assert broker_port("sqlite:///x.db") == 9092


def test_credentials_are_generated_once_and_owner_only(tmp_path: Path) -> None:
    path = credentials_path(tmp_path)
    assert load_credentials(path) is None
    made = create_credentials(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert load_credentials(path) == made and len(made.platform_password) >= 32
    assert made.admin_password not in repr(made)
    path.write_text("{}")
    with pytest.raises(ValueError, match="not a valid Kafka credentials file"):
        load_credentials(path)


def test_server_properties_custom_ports(tmp_path: Path) -> None:
    props = _props(server_properties(tmp_path, LOGINS, port=19092, controller_port=19093))
    assert props["listeners"] == "SASL_PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"


def test_log4j_config_logs_to_stdout_at_info() -> None:
    text = log4j_config()
    assert "appender.out.type = Console" in text
    assert "rootLogger.level = INFO" in text
    assert "rootLogger.appenderRef.out.ref = STDOUT" in text


def test_cluster_id_is_16_bytes_base64url() -> None:
    cluster_id = new_cluster_id()
    assert len(cluster_id) == 22
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    assert new_cluster_id() != cluster_id


def test_a_cluster_id_never_starts_like_an_option(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=bytes(16))])  # "-AAA…", then "AAA…"
    monkeypatch.setattr(uuid, "uuid4", lambda: next(draws))
    assert new_cluster_id() == "A" * 22


def test_the_compose_broker_passes_its_random_cluster_id_so_a_leading_dash_is_not_an_option() -> None:
    script = (Path(__file__).parents[2] / "deploy/images/kafka-start.sh").read_text()
    assert 'StorageTool format --cluster-id="$cluster"' in script


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_392"', 8),
        ("garbage", 0),
    ],
)
def test_java_major(output: str, major: int) -> None:
    assert java_major(output) == major


def test_pom_pins_a_kafka_release_and_a_log_binding() -> None:
    pom = pom_text()
    assert "<artifactId>kafka_2.13</artifactId>" in pom
    assert "<artifactId>log4j-slf4j-impl</artifactId>" in pom
    major, minor, _patch = kafka_version(pom).split(".")
    assert (int(major), int(minor)) >= (3, 9)


def test_mosquitto_conf(tmp_path: Path) -> None:
    text = mosquitto_conf(tmp_path / "data", tmp_path / "dynsec.json")
    lines = text.splitlines()
    assert "listener 1883 127.0.0.1" in lines
    assert "allow_anonymous false" in lines and "allow_anonymous true" not in lines
    assert f"plugin_opt_config_file {tmp_path / 'dynsec.json'}" in lines
    assert any(line.startswith("plugin ") and "mosquitto_dynamic_security.so" in line for line in lines)
    assert "persistence true" in lines
    assert f"persistence_location {tmp_path / 'data'}/" in lines
    assert not any(line.startswith("user ") for line in lines)
    assert "user root" in mosquitto_conf(tmp_path, tmp_path / "d.json", user="root").splitlines()


def test_connect_packet_layout() -> None:
    packet = connect_packet("abc")
    assert packet[0] == 0x10
    assert packet[1] == len(packet) - 2
    assert packet[2:9] == b"\x00\x04MQTT\x04"
    assert packet.endswith(b"\x00\x03abc")
    login = connect_packet("c" * 100, "user", "p" * 200)
    assert login[1:3] == bytes([(len(login) - 3) % 128 | 0x80, (len(login) - 3) // 128])
    assert login[10] == 0xC2 and login.endswith(b"\x00\x04user\x00\xc8" + b"p" * 200)


def _serve_once(reply: bytes) -> int:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def run() -> None:
        conn, _ = server.accept()
        with conn, server:
            conn.recv(1024)
            conn.sendall(reply)
            time.sleep(0.1)

    threading.Thread(target=run, daemon=True).start()
    port: int = server.getsockname()[1]
    return port


def test_mqtt_probe_accepts_connack_and_rejects_others() -> None:
    assert mqtt_accepts("127.0.0.1", _serve_once(b"\x20\x02\x00\x00"), 2.0)
    assert not mqtt_accepts("127.0.0.1", _serve_once(b"\x20\x02\x00\x05"), 2.0)
    assert not mqtt_accepts("127.0.0.1", _serve_once(b"HTTP/1.1 400 Bad\r\n\r\n"), 2.0)


def test_docker_ping_over_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "d.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def run() -> None:
        conn, _ = server.accept()
        with conn, server:
            conn.recv(1024)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nOK")

    threading.Thread(target=run, daemon=True).start()
    assert ping(path, 2.0)
    assert not ping(tmp_path / "missing.sock", 0.5)


def test_azurite_args_bind_loopback(tmp_path: Path) -> None:
    args = azurite_args(tmp_path)
    assert args[args.index("--blobHost") + 1] == "127.0.0.1"
    assert args[args.index("--blobPort") + 1] == "10000"
    assert args[args.index("--location") + 1] == str(tmp_path)
    assert {"--skipApiVersionCheck", "--loose", "--disableTelemetry"} <= set(args)


def test_parse_and_pick_clusters() -> None:
    text = (
        "13 old  5433 down   postgres /var/lib/postgresql/13/old /var/log/postgresql/13-old.log\n"
        "15 main 5432 online postgres /var/lib/postgresql/15/main /var/log/postgresql/15-main.log\n"
        "garbage line\n"
    )
    clusters = parse_lsclusters(text)
    assert [(c.version, c.name, c.port, c.online) for c in clusters] == [
        ("13", "old", 5433, False),
        ("15", "main", 5432, True),
    ]
    picked = pick_cluster(clusters)
    assert picked is not None and picked.data_dir == Path("/var/lib/postgresql/15/main")
    assert pick_cluster(clusters, 6000) is None


def test_missing_packages_and_find_binary(tmp_path: Path) -> None:
    (tmp_path / "9" / "bin").mkdir(parents=True)
    (tmp_path / "9" / "bin" / "server").write_text("")
    assert find_binary(str(tmp_path / "*" / "bin" / "server")) == str(tmp_path / "9" / "bin" / "server")
    assert find_binary("sh") is not None
    missing = missing_packages(
        {
            "sh": "dash",
            "no-such-binary-xyz": "pkg-a",
            "no-such-binary-abc": "pkg-a",
            str(tmp_path / "none/*"): "pkg-b",
        }
    )
    assert missing == ["pkg-a", "pkg-b"]


def test_resolve_names() -> None:
    assert resolve(None) == list(NAMES)
    assert resolve([]) == list(NAMES)
    assert resolve(["docker", "Kafka"]) == ["kafka", "docker"]
    with pytest.raises(InfraError, match="unknown component"):
        resolve(["redis"])


def test_format_status() -> None:
    text = format_status(
        [
            ComponentStatus("kafka", True, "127.0.0.1:9092", True),
            ComponentStatus("postgres", False, "127.0.0.1:5432", False),
            ComponentStatus("docker", True, "unix:///var/run/docker.sock", False),
        ]
    )
    lines = text.splitlines()
    assert lines[0].split() == ["kafka", "up", "127.0.0.1:9092", "(started", "by", "canopy)"]
    assert lines[1].split() == ["postgres", "down", "127.0.0.1:5432"]
    assert lines[2].endswith("(not started by canopy)")


def test_ownership_round_trip(tmp_path: Path) -> None:
    paths = InfraPaths(tmp_path / "infra")
    assert load_ownership(paths, "kafka") is None
    saved = save_ownership(paths, "kafka", os.getpid(), version="x")
    loaded = load_ownership(paths, "kafka")
    assert loaded == saved and loaded.alive() and loaded.extra == {"version": "x"}
    (paths.state / "kafka.json").write_text(
        (paths.state / "kafka.json")
        .read_text()
        .replace(f'"start_ticks": {saved.start_ticks}', '"start_ticks": 1')
    )
    reused = load_ownership(paths, "kafka")
    assert reused is not None and not reused.alive()
    clear_ownership(paths, "kafka")
    assert load_ownership(paths, "kafka") is None


def test_spawn_detached_and_terminate(tmp_path: Path) -> None:
    log = tmp_path / "sleep.log"
    pid = spawn_detached(["sh", "-c", "echo hello; exec sleep 60"], log)
    try:
        assert is_running(pid)
        assert os.getsid(pid) != os.getsid(0)
        deadline = time.monotonic() + 5
        while "hello" not in tail(log, 5) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tail(log, 5)[-1] == "hello"
    finally:
        terminate(pid, 5)
    assert not is_running(pid)


def test_the_compose_broker_has_the_single_node_settings_of_canopy_infra() -> None:
    script = (Path(__file__).parents[2] / "deploy/images/kafka-start.sh").read_text().splitlines()
    assert [f"{key}={value}" for key, value in SINGLE_NODE.items() if f"{key}={value}" not in script] == []
