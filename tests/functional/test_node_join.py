"""Nodes join with a one-time token and their public key; bad joins are refused with a reason."""

from __future__ import annotations

from flask.testing import FlaskClient

from canopy.ed25519 import Ed25519PrivateKey
from canopy.nodes.enrolment import enrolled
from canopy.roles import Role
from canopy.runtime.backends import Backends
from canopy.workloads.commands import load_or_create_signing_key, public_pem
from tests.functional.conftest import bearer


def _add(client: FlaskClient, token: str, node_id: str, **extra: object) -> dict[str, object]:
    reply = client.post("/api/v1/nodes", json={"node_id": node_id, **extra}, headers=bearer(token))
    assert reply.status_code == 201, reply.get_json()
    body: dict[str, object] = reply.get_json()
    return body


def test_a_node_joins_once_with_its_token_and_key(
    client: FlaskClient, backends: Backends, role_tokens: dict[Role, str]
) -> None:
    added = _add(client, role_tokens[Role.PLATFORM_ADMIN], "edge-1", addresses=["10.0.0.7", "edge-1.lan"])
    key = Ed25519PrivateKey.generate()
    body = {"token": added["join_token"], "public_key": public_pem(key)}
    reply = client.post("/api/v1/nodes/edge-1/join", json=body)
    commands_key = public_pem(load_or_create_signing_key(backends.config.home))
    expected = {"node_id": "edge-1", "commands_public_key": commands_key, "kafka": None}
    assert reply.status_code == 200 and reply.get_json() == expected
    with backends.store.session() as session:
        node = enrolled(session, "edge-1")
    assert node is not None and node.addresses == ("10.0.0.7", "edge-1.lan")
    assert node.key.public_bytes_raw() == key.public_key().public_bytes_raw()
    again = client.post(
        "/api/v1/nodes/edge-1/join", json={**body, "public_key": public_pem(Ed25519PrivateKey.generate())}
    )
    assert again.status_code == 401 and "used or expired" in again.get_json()["error"]["message"]


def test_bad_joins_and_bad_nodes_are_refused(client: FlaskClient, role_tokens: dict[Role, str]) -> None:
    admin = role_tokens[Role.PLATFORM_ADMIN]
    added = _add(client, admin, "edge-2")
    pem = public_pem(Ed25519PrivateKey.generate())
    wrong = client.post("/api/v1/nodes/edge-2/join", json={"token": "cnj_guess", "public_key": pem})
    assert wrong.status_code == 401
    other = client.post("/api/v1/nodes/edge-3/join", json={"token": added["join_token"], "public_key": pem})
    assert other.status_code == 401
    garbage = client.post("/api/v1/nodes/edge-2/join", json={"token": added["join_token"], "public_key": "x"})
    assert garbage.status_code == 400 and "public_key" in garbage.get_json()["error"]["message"]
    for bad in ({"node_id": "../etc"}, {"node_id": "ok", "addresses": ["no spaces allowed"]}, {}):
        assert client.post("/api/v1/nodes", json=bad, headers=bearer(admin)).status_code in (400, 422), bad
    assert client.delete("/api/v1/nodes/edge-2", headers=bearer(admin)).status_code == 204
    assert client.delete("/api/v1/nodes/edge-2", headers=bearer(admin)).status_code == 404
