"""Attacks on the gateway from the outside: HTTP against a real gateway, the CLI and the SDK.

The gateway runs as in tests/functional (waitress on 127.0.0.1, embedded backends). Model replicas are
stood in for by small HTTP servers registered as the deployer would register them, so the SDK's
model_call really sends its traffic to whichever replica the gateway's name resolution picks.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from platform_sdk._client import ApiClient
from platform_sdk.models import ModelClient
from sqlalchemy import event, func, select

from bootstrap.cli import cli
from canopy.config import load_config
from canopy.deployments.tables import Replica
from canopy.errors import NotFound
from canopy.runtime.backends import Backends, open_backends
from canopy.telemetry.models import CommandRecord
from services.gateway import accounts
from services.gateway.app import create_app
from services.gateway.server import HttpServer
from services.gateway.service import bootstrap_admin
from tests.fixtures.device_packages.corpus import sample
from tests.fixtures.model_packages.corpus import modern_files, zip_bytes

ADMIN_PASSWORD = "admin-password-1"
PASSWORD = "password-123"
MIB = 1024 * 1024


@dataclass
class Gateway:
    """A running gateway and a token per user."""

    url: str
    port: int
    backends: Backends
    tokens: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, path: str, user: str | None = None, **kwargs: Any) -> requests.Response:
        """One HTTP request as `user` (anonymous when None)."""
        headers = dict(kwargs.pop("headers", {}))
        if user:
            headers["Authorization"] = f"Bearer {self.tokens[user]}"
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)


@pytest.fixture()
def gateway(canopy_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    """A real gateway with admin, ai_developers deva and devb, and end_user eve, each signed in."""
    monkeypatch.setenv("CANOPY_ADMIN_PASSWORD", ADMIN_PASSWORD)
    backends = open_backends(load_config())
    bootstrap_admin(backends)
    with backends.store.session() as session:
        for name, role in (("deva", "ai_developer"), ("devb", "ai_developer"), ("eve", "end_user")):
            accounts.create_user(session, name, accounts.Role(role), PASSWORD)
    server = HttpServer(create_app(backends), "127.0.0.1", 0)
    server.start()
    running = Gateway(server.url, server.port, backends)
    with backends.store.session() as session:
        for name in ("admin", "deva", "devb", "eve"):
            user = accounts.find_user(session, name)
            running.tokens[name] = accounts.issue_token(session, user, timedelta(hours=1)).secret
    yield running
    server.stop()
    backends.close()


def upload(gateway: Gateway, user: str, **manifest: Any) -> str:
    """Upload the good model package (with manifest changes) as `user`; its id."""
    package = zip_bytes(modern_files(**manifest))
    reply = gateway.call("POST", "/api/v1/models", user, files={"file": ("model.zip", io.BytesIO(package))})
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


def register_fan(gateway: Gateway) -> str:
    """A controller registered by the admin; its id."""
    assert gateway.call("POST", "/api/v1/device-types", "admin", json=sample("types/fan.json")).ok
    device = {"id": "plant-fan-switch", "type": "SMARTFAN", "location": "hyd/plant", "transport": "kafka"}
    assert gateway.call("POST", "/api/v1/devices", "admin", json=device).status_code == 201
    return "plant-fan-switch"


def as_user(gateway: Gateway, user: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner whose commands talk to the gateway as `user`."""
    monkeypatch.setenv("CANOPY_API_URL", gateway.url)
    monkeypatch.setenv("CANOPY_TOKEN", gateway.tokens[user])
    return CliRunner()


def test_devb_cannot_deploy_undeploy_scale_or_delete_devas_model(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_id = upload(gateway, "deva")
    assert gateway.call("POST", f"/api/v1/models/{model_id}/deploy", "deva", json={}).status_code == 202
    cli_as_devb = as_user(gateway, "devb", monkeypatch)
    for args in (["undeploy", model_id], ["scale", model_id, "3"], ["deploy", model_id]):
        result = cli_as_devb.invoke(cli, ["model", *args, "--no-wait"])
        assert result.exit_code != 0 and "belongs to deva" in result.output, (args, result.output)
    for method, path in (
        ("POST", f"/api/v1/models/{model_id}/undeploy"),
        ("POST", f"/api/v1/models/{model_id}/scale"),
        ("GET", f"/api/v1/models/{model_id}/deployment"),
        ("DELETE", f"/api/v1/models/{model_id}"),
    ):
        assert gateway.call(method, path, "devb", json={"replicas": 0}).status_code == 403, (method, path)
    view = gateway.call("GET", f"/api/v1/models/{model_id}/deployment", "deva").json()
    assert (view["generation"], view["desired_replicas"]) == (1, 1)
    by_admin = as_user(gateway, "admin", monkeypatch).invoke(
        cli, ["model", "undeploy", "deva/fan-health", "--no-wait"]
    )
    assert by_admin.exit_code == 0 and f"generation 2 of {model_id}" in by_admin.output, by_admin.output


class _Replica(BaseHTTPRequestHandler):
    """A stand-in model replica that answers /predict with the name of its owner."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"outputs": {"served_by": self.server.owner}}).encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture()
def replicas() -> Iterator[dict[str, str]]:
    """One stand-in replica per owner: owner name to its URL."""
    servers = {}
    for owner in ("deva", "devb"):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Replica)
        server.owner = owner  # type: ignore[attr-defined]
        Thread(target=server.serve_forever, daemon=True).start()
        servers[owner] = server
    yield {owner: f"http://127.0.0.1:{server.server_port}" for owner, server in servers.items()}
    for server in servers.values():
        server.shutdown()


def test_a_squatted_name_does_not_capture_devas_traffic(gateway: Gateway, replicas: dict[str, str]) -> None:
    own = upload(gateway, "deva", name="fan-health", version="1.0.0")
    squat = upload(gateway, "devb", name="fan-health", version="9.0.0")
    with gateway.backends.store.session() as session:
        for model_id, owner in ((own, "deva"), (squat, "devb")):
            session.add(
                Replica(
                    workload_id=f"w-{owner}", model_id=model_id, generation=1, node_id="n1",
                    endpoint=replicas[owner], state="ready",
                )
            )  # fmt: skip

    def predict(user: str, name: str) -> Any:
        return ModelClient(ApiClient(gateway.url, gateway.tokens[user])).call(
            name, {"rpm": 1, "vibration": 2}
        )

    assert predict("deva", "fan-health") == {"served_by": "deva"}
    assert predict("eve", "deva/fan-health") == {"served_by": "deva"}
    assert predict("devb", "fan-health") == {"served_by": "devb"}
    with pytest.raises(NotFound, match="owner/name"):
        predict("eve", "fan-health")
    shown = gateway.call("GET", "/api/v1/models/deva/fan-health", "devb").json()
    assert (shown["id"], shown["owner"]) == (own, "deva")


def test_end_users_cannot_read_stream_or_command_devices(gateway: Gateway) -> None:
    device = register_fan(gateway)
    for method, path, body in (
        ("GET", f"/api/v1/devices/{device}", None),
        ("GET", f"/api/v1/devices/{device}/latest", None),
        ("GET", f"/api/v1/devices/{device}/stream?timeout=1", None),
        ("POST", f"/api/v1/devices/{device}/commands", {"params": {"on": False}, "timeout": 1}),
    ):
        reply = gateway.call(method, path, "eve", json=body)
        assert reply.status_code == 403, (method, path, reply.status_code)
    assert gateway.call("GET", "/api/v1/devices", "eve").json()["devices"] == []
    with gateway.backends.store.session() as session:
        assert session.scalar(select(func.count()).select_from(CommandRecord)) == 0


def _open_stream(port: int, token: str, device: str) -> tuple[socket.socket, str]:
    """Start a stream on a raw socket; the socket and the response's status line."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    request = (
        f"GET /api/v1/devices/{device}/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    sock.sendall(request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return sock, head.split(b"\r\n", 1)[0].decode()


def test_twelve_streams_from_one_user_leave_health_answering(gateway: Gateway) -> None:
    device = register_fan(gateway)
    opened = [_open_stream(gateway.port, gateway.tokens["admin"], device) for _ in range(12)]
    try:
        statuses = [status.split(" ")[1] for _, status in opened]
        started = time.monotonic()
        health = requests.get(f"{gateway.url}/api/v1/health", timeout=5)
        elapsed = time.monotonic() - started
        assert health.status_code == 200 and elapsed < 1.0, elapsed
        assert statuses.count("200") == 4 and statuses.count("429") == 8, statuses
        refused = gateway.call("GET", f"/api/v1/devices/{device}/stream", "admin")
        assert refused.status_code == 429 and "CANOPY_STREAMS_PER_USER" in refused.text
    finally:
        for sock, _ in opened:
            sock.close()


def test_command_waits_query_no_database_and_leave_health_answering(gateway: Gateway) -> None:
    device = register_fan(gateway)
    statements: list[str] = []

    def listener(*args: Any) -> None:
        """Note each SQL statement the gateway sends to its store."""
        statements.append(str(args[2])[:80])

    event.listen(gateway.backends.store.engine, "before_cursor_execute", listener)
    body = {"params": {"on": False}, "timeout": 4}
    with ThreadPoolExecutor(12) as pool:
        try:
            waits = [
                pool.submit(gateway.call, "POST", f"/api/v1/devices/{device}/commands", "admin", json=body)
                for _ in range(12)
            ]
            time.sleep(1.5)  # every request is in: four wait for an acknowledgement that never comes
            statements.clear()
            time.sleep(1.5)
            while_waiting = list(statements)
            started = time.monotonic()
            health = requests.get(f"{gateway.url}/api/v1/health", timeout=5)
            elapsed = time.monotonic() - started
        finally:
            event.remove(gateway.backends.store.engine, "before_cursor_execute", listener)
        statuses = sorted(wait.result().status_code for wait in waits)
    assert while_waiting == [], "a command wait polled the database"
    assert health.status_code == 200 and elapsed < 1.0, elapsed
    assert statuses == [429] * 8 + [504] * 4, statuses


def _login_from(source: str, port: int, user: str, password: str) -> int:
    """POST a login from the local address `source`; the status."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        body = json.dumps({"user": user, "password": password})
        connection.request("POST", "/api/v1/auth/login", body, {"Content-Type": "application/json"})
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_login_flood_does_not_lock_admin_out(gateway: Gateway) -> None:
    statuses = [_login_from("127.0.0.2", gateway.port, "admin", f"guess-{i}") for i in range(40)]
    assert statuses.count(429) >= 20 and set(statuses) <= {401, 429}
    assert _login_from("127.0.0.2", gateway.port, "admin", ADMIN_PASSWORD) == 429
    assert _login_from("127.0.0.1", gateway.port, "admin", ADMIN_PASSWORD) == 201


def _send_head(port: int, path: str, length: int, extra: str = "") -> tuple[str, float]:
    """Send only the headers of a POST announcing `length` body bytes; the status line and wait."""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}"
        sock.sendall(f"{head}Content-Length: {length}\r\n\r\n".encode())
        started = time.monotonic()
        try:
            answer = sock.recv(4096).decode(errors="replace")
        except TimeoutError:
            answer = "no answer before the body"
        return answer.split("\r\n", 1)[0], time.monotonic() - started


def test_a_64_mib_unauthenticated_body_is_refused_before_it_is_read(gateway: Gateway) -> None:
    for path, extra in (
        ("/api/v1/auth/login", ""),
        ("/api/v1/users", ""),
        ("/api/v1/devices/plant-fan-switch/telemetry", ""),
        ("/api/v1/models", ""),
        ("/api/v1/users", f"Authorization: Bearer {gateway.tokens['admin']}\r\n"),
    ):
        status, waited = _send_head(gateway.port, path, 64 * MIB, extra)
        assert " 413 " in f"{status} " and waited < 1.0, (path, status, waited)
    small = gateway.call("POST", "/api/v1/auth/login", data=b"x" * 5000)
    assert small.status_code == 413


def test_deeply_nested_json_is_refused_with_400(gateway: Gateway) -> None:
    nested = "[" * 1800 + "]" * 1800
    for user, path in (
        (None, "/api/v1/auth/login"),
        ("admin", "/api/v1/users"),
        (None, "/api/v1/devices/any/telemetry"),
    ):
        body = f'{{"user": {nested}}}'
        reply = gateway.call("POST", path, user, data=body, headers={"Content-Type": "application/json"})
        assert reply.status_code == 400 and "nests deeper" in reply.text, (path, reply.status_code)


def test_a_non_numeric_command_timeout_is_refused_with_400(gateway: Gateway) -> None:
    device = register_fan(gateway)
    for timeout in ("soon", [], {"s": 1}, -1, 0, 31, True):
        body = {"params": {"on": True}, "timeout": timeout}
        reply = gateway.call("POST", f"/api/v1/devices/{device}/commands", "admin", json=body)
        assert reply.status_code == 400 and "timeout" in reply.text, (timeout, reply.status_code)


def test_scrape_targets_are_for_the_scrape_token_or_a_platform_admin_only(
    canopy_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANOPY_PROMETHEUS_TOKEN", "scrape-token-1")
    monkeypatch.setenv("CANOPY_ADMIN_PASSWORD", ADMIN_PASSWORD)
    backends = open_backends(load_config())
    bootstrap_admin(backends)
    with backends.store.session() as session:
        accounts.create_user(session, "deva", accounts.Role("ai_developer"), PASSWORD)
        tokens = {
            name: accounts.issue_token(session, accounts.find_user(session, name), timedelta(hours=1)).secret
            for name in ("admin", "deva")
        }
        session.add(
            Replica(
                workload_id="w1",
                model_id="m1",
                generation=1,
                node_id="n1",
                endpoint="http://127.0.0.1:41234",
                state="ready",
            )
        )
        session.add(
            Replica(
                workload_id="w2", model_id="m1", generation=1, node_id="n1", endpoint="", state="starting"
            )
        )
    server = HttpServer(create_app(backends), "127.0.0.1", 0)
    server.start()
    try:
        url = f"{server.url}/api/v1/metrics/targets"

        def get(token: str | None) -> requests.Response:
            headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
            return requests.get(url, headers=headers, timeout=10)

        expected = [
            {
                "targets": ["127.0.0.1:41234"],
                "labels": {"model_id": "m1", "node_id": "n1", "workload_id": "w1"},
            }
        ]
        assert get("scrape-token-1").json() == expected
        assert get(tokens["admin"]).json() == expected
        assert get(tokens["deva"]).status_code == 403
        assert get("scrape-token-2").status_code == 401
        assert get(None).status_code == 401
    finally:
        server.stop()
        backends.close()
