"""Attacks on the control plane from outside: forged node messages on the bus, and Kafka without rights.

On the SQLite bus the attacker is a process that can write the bus file; on Kafka it is a client with
no login, a wrong one, or the login of one node or one device.
"""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from platform_sdk._client import ApiClient
from platform_sdk.models import ModelClient

from bootstrap.infra.kafka.credentials import KafkaCredentials
from canopy.bus import Bus, Credentials, open_bus
from canopy.bus.kafka import parse_url, sasl_settings
from canopy.bus.kafka_acl import (
    device_grants,
    device_user,
    node_grants,
    node_user,
    provision_node,
    unprovision,
)
from canopy.bus.kafka_admin import Provisioner
from canopy.config import load_config
from canopy.contracts import decode, encode, topics
from canopy.contracts.deploy import (
    NodeCommand,
    NodeStatus,
    PlacementDecision,
    PlacementRequest,
    WorkloadEvent,
)
from canopy.deployments.tables import Node
from canopy.ed25519 import Ed25519PrivateKey
from canopy.roles import Role
from canopy.runtime import Service
from canopy.runtime.backends import Backends, open_backends
from canopy.workloads.commands import sign
from services.deployer.service import deployer_components
from services.gateway import accounts
from services.gateway.app import create_app
from services.gateway.server import HttpServer
from services.gateway.service import bootstrap_admin
from services.node_agent.service import agent_components
from services.node_manager.service import node_manager_components
from tests.conftest import kafka_environment
from tests.deploy_helpers import (
    IRIS_INPUT,
    IRIS_PACKAGE,
    enrolled_key,
    share_build_caches,
    wait_for,
    zip_package,
)

pytestmark = pytest.mark.timeout(600)
FAR_FUTURE = datetime(2099, 1, 1, tzinfo=UTC)


def _phantom_status(node_id: str = "phantom", at: datetime = FAR_FUTURE) -> NodeStatus:
    """The report an attacker forges: an idle, huge node whose clock runs decades ahead."""
    return NodeStatus(
        node_id=node_id,
        runtime="process",
        cpu_percent=0,
        memory_percent=0,
        cpu_count=64,
        memory_mb=262144,
        max_workloads=256,
        at=at,
    )


def _placement(bus: Bus, group: str) -> PlacementDecision:
    """Ask the node manager where one replica goes, as the deployer would, and wait for the answer."""
    consumer = bus.consumer(group, [topics.PLACEMENT], from_beginning=False)
    request = PlacementRequest(request_id=uuid.uuid4().hex, model_id="m-attack", replicas=1)
    try:
        bus.publish(topics.PLACEMENT, encode(request), key="m-attack")
        bus.flush()

        def answer() -> PlacementDecision | None:
            record = consumer.poll(0.5)
            message = decode(record.value).message if record else None
            found = isinstance(message, PlacementDecision) and message.request_id == request.request_id
            return message if found else None  # type: ignore[return-value]

        decision: PlacementDecision = wait_for(answer, 60, "the placement decision")
        return decision
    finally:
        consumer.close()


def _forge_phantoms_and_place(backends: Backends, attacker: Bus, attacker_key: Ed25519PrivateKey) -> None:
    """Run a node manager and one honest node; forge statuses; the honest node must still be chosen."""
    honest, future_key = enrolled_key(backends, "node-honest"), enrolled_key(backends, "node-future")
    service = Service(
        "attacked",
        [
            *node_manager_components(backends),
            *agent_components(backends, "node-honest", honest, simulated_load=(60.0, 60.0)),
        ],
    )
    service.start()
    try:
        with backends.store.session() as session:
            wait_for(lambda: session.get(Node, "node-honest"), 30, "the honest node's first status")
        forged = [
            _phantom_status(),  # unsigned
            sign(_phantom_status("phantom-signed"), attacker_key),  # signed by a key nobody enrolled
            sign(_phantom_status("node-honest"), attacker_key),  # pretends to be the honest node
            sign(_phantom_status("node-future"), future_key),  # a joined node's own key, decades ahead
        ]
        for status in forged:
            attacker.publish(topics.NODE_STATUS, encode(status), key=status.node_id)
        attacker.flush()
        decision = _placement(backends.bus, f"attack-placement-{uuid.uuid4().hex[:8]}")
        with backends.store.session() as session:
            session.expire_all()
            assert session.get(Node, "phantom") is None
            assert session.get(Node, "phantom-signed") is None
            assert session.get(Node, "node-future") is None
            honest_row = session.get(Node, "node-honest")
            assert honest_row is not None and honest_row.last_seen < datetime.now(UTC) + timedelta(minutes=1)
        assert decision.nodes == ["node-honest"], decision
    finally:
        service.stop()


@pytest.fixture()
def backends(canopy_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backends]:
    """The platform's backends on the embedded defaults, with the admin user."""
    monkeypatch.setenv("CANOPY_ADMIN_PASSWORD", "admin-password-1")
    opened = open_backends(load_config())
    bootstrap_admin(opened)
    yield opened
    opened.close()


def test_a_forged_far_future_status_on_the_sqlite_bus_makes_no_phantom_node(backends: Backends) -> None:
    attacker = open_bus(backends.config.bus_url)  # a process that got in writes the bus file itself
    try:
        _forge_phantoms_and_place(backends, attacker, Ed25519PrivateKey.generate())
    finally:
        attacker.close()


class _Impostor(BaseHTTPRequestHandler):
    """A server the attacker wants model_call traffic sent to: healthy, and it records every call."""

    calls: list[str] = []

    def do_GET(self) -> None:
        """Answer /health like a model server."""
        self._answer()

    def do_POST(self) -> None:
        """Record a model call and answer it with a forged prediction."""
        self.calls.append(self.path)
        self._answer(b'{"species": "forged"}')

    def _answer(self, body: bytes = b'{"status": "ok"}') -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        """Stay quiet."""


def _race_ready_events(
    bus: Bus, impostor_url: str, stop: threading.Event, insider: Ed25519PrivateKey
) -> None:
    """Answer every start command at once with forged 'ready' events pointing at the impostor.

    Unsigned, signed by a key nobody enrolled, and signed by `insider`, the key of another node that
    joined (node-b) but was never asked to run the workload.
    """
    consumer = bus.consumer(f"attacker-{uuid.uuid4().hex[:8]}", [topics.NODE_COMMANDS], from_beginning=False)
    key = Ed25519PrivateKey.generate()
    try:
        while not stop.is_set():
            record = consumer.poll(0.2)
            command = decode(record.value).message if record else None
            if not isinstance(command, NodeCommand) or command.action != "start":
                continue
            event = WorkloadEvent(
                node_id=command.node_id,
                workload_id=command.workload_id,
                model_id=command.model_id,
                generation=command.generation,
                state="ready",
                endpoint=impostor_url,
            )
            from_insider = sign(event.model_copy(update={"node_id": "node-b"}), insider)
            for forged in (event, sign(event, key), from_insider):
                bus.publish(topics.WORKLOAD_EVENTS, encode(forged), key=command.model_id)
            bus.flush()
    finally:
        consumer.close()


def test_a_forged_ready_event_on_the_sqlite_bus_registers_no_endpoint(
    backends: Backends, canopy_home: Path
) -> None:
    share_build_caches(canopy_home)
    impostor = ThreadingHTTPServer(("127.0.0.1", 0), _Impostor)
    threading.Thread(target=impostor.serve_forever, daemon=True).start()
    impostor_url = f"http://127.0.0.1:{impostor.server_address[1]}"
    gateway = HttpServer(create_app(backends), "127.0.0.1", 0)
    service = Service(
        "attacked",
        [
            gateway,
            *node_manager_components(backends),
            *deployer_components(backends),
            *agent_components(backends, "node-a", enrolled_key(backends, "node-a")),
        ],
    )
    attacker, stop = open_bus(backends.config.bus_url), threading.Event()
    insider = enrolled_key(backends, "node-b")
    racer = threading.Thread(
        target=_race_ready_events, args=(attacker, impostor_url, stop, insider), daemon=True
    )
    service.start()
    racer.start()
    try:
        with backends.store.session() as session:
            user = accounts.create_user(session, "dev", Role.AI_DEVELOPER, "password-123")
            token = accounts.issue_token(session, user, timedelta(hours=1)).secret
        api = ApiClient(f"http://127.0.0.1:{gateway.port}", token)
        model_id = api.post(
            "/api/v1/models", files={"file": ("p.zip", io.BytesIO(zip_package(IRIS_PACKAGE)))}
        )["id"]
        generation = api.post(f"/api/v1/models/{model_id}/deploy", json={"replicas": 1})["generation"]

        def finished() -> dict[str, Any] | None:
            view: dict[str, Any] = api.get(f"/api/v1/models/{model_id}/deployment")
            done = view["generation"] == generation and view["status"] in ("ready", "failed")
            return view if done else None

        view = wait_for(finished, 400, "the deployment to finish")
        assert view["status"] == "ready", view
        assert impostor_url not in view["endpoints"] and len(view["endpoints"]) == 1, view
        answer = ModelClient(api).call(model_id, IRIS_INPUT, timeout=10)
        assert answer["species"] == "setosa"
        assert _Impostor.calls == []
    finally:
        stop.set()
        racer.join(5)
        service.stop()
        attacker.close()
        impostor.shutdown()


# ---- Kafka with SASL/SCRAM and ACLs -------------------------------------------------------------


def _client_settings(url: str, login: Credentials | None) -> dict[str, Any]:
    servers, _ = parse_url(url)
    settings: dict[str, Any] = {"bootstrap.servers": servers, "socket.connection.setup.timeout.ms": 3000}
    if login is not None:
        settings.update(sasl_settings(login.username, login.password))
    return settings


def produce_error(url: str, login: Credentials | None, topic: str, value: bytes = b"forged") -> str:
    """Produce one record as `login`; the delivery error's name, or '' when the broker accepted it."""
    errors: list[str] = []
    producer = Producer(
        {
            **_client_settings(url, login),
            "message.timeout.ms": 8000,
            "on_delivery": lambda err, _msg: errors.append(err.name() if err else ""),
        }
    )
    producer.produce(topic, value)
    producer.flush(20)
    return errors[0] if errors else "NO_REPORT"


def consume_outcome(url: str, login: Credentials | None, topic: str, group: str, seconds: float = 8.0) -> str:
    """What a consumer logged in as `login` gets from `topic`: 'records', an error name, or 'nothing'."""
    consumer = Consumer({**_client_settings(url, login), "group.id": group, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    outcome, ends = "nothing", datetime.now(UTC) + timedelta(seconds=seconds)
    try:
        while datetime.now(UTC) < ends and outcome == "nothing":
            message = consumer.poll(0.5)
            if message is not None:
                outcome = "records" if message.error() is None else message.error().name()
    finally:
        consumer.close()
    return outcome


@pytest.fixture(scope="module")
def principals(kafka_url: str, kafka_logins: KafkaCredentials) -> dict[str, Credentials]:
    """The platform, one node and two devices, each with its own login, and the control topics."""
    run = uuid.uuid4().hex[:8]
    admin = Provisioner(kafka_url, kafka_logins.admin_user, kafka_logins.admin_password)
    logins = {
        "platform": Credentials(kafka_logins.platform_user, kafka_logins.platform_password),
        "node": Credentials(node_user(f"sec-{run}"), uuid.uuid4().hex),
        "device": Credentials(device_user(f"sec-a-{run}"), uuid.uuid4().hex),
        "other": Credentials(device_user(f"sec-b-{run}"), uuid.uuid4().hex),
    }
    admin.provision(logins["node"].username, logins["node"].password, node_grants(f"sec-{run}"))
    for name, device in (("device", f"sec-a-{run}"), ("other", f"sec-b-{run}")):
        admin.create_topics([topics.ingest_topic(device), topics.device_command_topic(device)], 3)
        admin.provision(logins[name].username, logins[name].password, device_grants(device))
    platform = open_bus(kafka_url, credentials=logins["platform"])
    for topic in (*CONTROL_TOPICS, *NODE_TOPICS, PLATFORM_SCRATCH):  # a fresh broker has none of them
        platform.ensure_topic(topic)
    platform.close()
    return logins


PLATFORM_SCRATCH = f"sec-scratch-{uuid.uuid4().hex[:8]}"
CONTROL_TOPICS = (
    topics.DEPLOY_REQUESTS,
    topics.PLACEMENT,
    topics.NODE_COMMANDS,
    topics.DEVICE_COMMANDS,
    topics.DEVICE_TELEMETRY,
    topics.DEVICE_EVENTS,
    topics.TELEMETRY_INGEST,
    topics.DEPLOY_EVENTS,
)
NODE_TOPICS = (topics.NODE_STATUS, topics.WORKLOAD_EVENTS)  # what a node may write


@pytest.mark.kafka
def test_an_unauthenticated_client_can_neither_produce_nor_consume(kafka_url: str, principals: Any) -> None:
    assert produce_error(kafka_url, None, topics.DEPLOY_REQUESTS) != ""
    assert (
        consume_outcome(kafka_url, None, topics.DEPLOY_REQUESTS, f"anon-{uuid.uuid4().hex[:8]}") != "records"
    )
    wrong = Credentials(principals["platform"].username, "not-the-password")
    assert produce_error(kafka_url, wrong, topics.DEPLOY_REQUESTS) != ""
    assert produce_error(kafka_url, principals["platform"], PLATFORM_SCRATCH) == ""


@pytest.mark.kafka
def test_a_node_principal_cannot_produce_control_messages_or_device_telemetry(
    kafka_url: str, principals: dict[str, Credentials]
) -> None:
    node, device_topic = principals["node"], topics.ingest_topic(principals["device"].username[7:])
    for topic in (*CONTROL_TOPICS, device_topic):
        assert produce_error(kafka_url, node, topic) == "TOPIC_AUTHORIZATION_FAILED", topic
    assert produce_error(kafka_url, node, topics.NODE_STATUS, b"{}") == ""
    own_group = (
        f"node-agent-{node.username.removeprefix('node-')}"  # a group it may use, on a topic it may not
    )
    assert consume_outcome(kafka_url, node, topics.DEPLOY_REQUESTS, own_group) == "TOPIC_AUTHORIZATION_FAILED"


@pytest.mark.kafka
def test_a_device_principal_writes_only_its_own_topic(
    kafka_url: str, principals: dict[str, Credentials]
) -> None:
    device, other = principals["device"], principals["other"]
    own, theirs = topics.ingest_topic(device.username[7:]), topics.ingest_topic(other.username[7:])
    assert produce_error(kafka_url, device, own, b"{}") == ""
    assert produce_error(kafka_url, device, theirs) == "TOPIC_AUTHORIZATION_FAILED"
    for topic in (*CONTROL_TOPICS, *NODE_TOPICS):
        assert produce_error(kafka_url, device, topic) == "TOPIC_AUTHORIZATION_FAILED", topic
    outcome = consume_outcome(kafka_url, device, topics.DEVICE_COMMANDS, device.username)
    assert outcome == "TOPIC_AUTHORIZATION_FAILED"


@pytest.mark.kafka
def test_a_forged_command_acknowledgement_from_a_non_platform_principal_is_refused(
    kafka_url: str, principals: dict[str, Credentials]
) -> None:
    for name in ("node", "device"):
        assert (
            produce_error(kafka_url, principals[name], topics.DEVICE_EVENTS) == "TOPIC_AUTHORIZATION_FAILED"
        )


@pytest.mark.kafka
def test_a_node_principal_forging_statuses_makes_no_phantom_node(
    canopy_home: Path,
    kafka_url: str,
    kafka_logins: KafkaCredentials,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kafka_environment(monkeypatch, kafka_url, kafka_logins)
    config, node = load_config(), f"forger-{uuid.uuid4().hex[:8]}"
    opened = open_backends(config)
    login = provision_node(config, node)  # in this session's prefix, as the gateway makes it
    assert login is not None
    attacker = open_bus(kafka_url, credentials=login, topic_prefix=config.topic_prefix)  # cannot sign
    try:
        _forge_phantoms_and_place(opened, attacker, Ed25519PrivateKey.generate())
    finally:
        attacker.close()
        opened.close()
        unprovision(config, node_user(node))
