"""POST /api/v1/models/<id>/predict: the gateway forwards a model call to a ready replica."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask.testing import FlaskClient

from canopy.roles import Role
from canopy.workloads.process_runtime import free_port
from services.gateway.views import model_calls
from tests.app_world import upload_model
from tests.functional.conftest import bearer


class Replica(BaseHTTPRequestHandler):
    """A model replica that echoes its inputs, or answers 422 to a body without them."""

    def do_POST(self) -> None:
        """Answer /predict."""
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status, answer = (200, {"outputs": {"echo": body["inputs"]}}) if "inputs" in body else (422, {})
        data = json.dumps({**answer, "path": self.path}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture()
def replica() -> Iterator[str]:
    """A running echo replica's URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Replica)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_call_is_forwarded_to_a_replica_that_answers(
    client: FlaskClient, role_tokens: dict[Role, str], replica: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = bearer(role_tokens[Role.END_USER])
    model_id = upload_model(client, role_tokens[Role.AI_DEVELOPER])
    path = f"/api/v1/models/{model_id}/predict"
    refused = client.post(path, json={"inputs": {"x": 1}}, headers=user)
    assert refused.status_code == 503 and "no ready replica" in refused.get_json()["error"]["message"]
    assert client.post("/api/v1/models/mnope/predict", json={}, headers=user).status_code == 404

    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setattr(model_calls, "live_endpoints", lambda _session, _id: [dead, replica])
    for _ in range(2):  # whichever replica comes first, the live one answers
        answered = client.post(path, json={"inputs": {"x": 1}}, headers=user)
        assert answered.status_code == 200
        assert answered.get_json() == {"outputs": {"echo": {"x": 1}}, "path": "/predict"}
    assert client.post(path, json={"nothing": 1}, headers=user).status_code == 422

    monkeypatch.setattr(model_calls, "live_endpoints", lambda _session, _id: [dead])
    gone = client.post(path, json={"inputs": {}}, headers=user)
    assert gone.status_code == 503 and dead in gone.get_json()["error"]["message"]
