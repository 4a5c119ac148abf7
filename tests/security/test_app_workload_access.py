"""Scoped access tried from INSIDE a running app: the statuses the gateway gives its own credential.

A tiny app (uploaded over REST, run on the process runtime) probes the gateway with CANOPY_TOKEN at
start and reports each status on its page and in its log: its bound sensor and its declared model
answer, everything else (an unbound device, commanding its sensor, an undeclared model) is 403.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import requests
from flask.testing import FlaskClient

from canopy.roles import Role
from canopy.runtime.backends import Backends
from tests.app_run_helpers import settled
from tests.app_world import ROOM, seed_devices, upload_model
from tests.deploy_helpers import running_platform
from tests.fixtures.model_packages.corpus import modern_files, zip_bytes
from tests.functional.conftest import bearer

# Probes the gateway once at start with the instance credential, logs each status, serves them as JSON.
PROBE = """
import json, os, urllib.error, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def status(method, path, body):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(os.environ["CANOPY_API_URL"] + path, data=data, method=method)
    request.add_header("Authorization", "Bearer " + os.environ["CANOPY_TOKEN"])
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


def main():
    with open("probes.json") as probes:
        statuses = {name: status(*probe) for name, probe in json.load(probes).items()}
    for name, code in statuses.items():
        print(f"probe {name}: {code}", flush=True)
    answer = json.dumps(statuses).encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    ThreadingHTTPServer(("127.0.0.1", int(os.environ["CANOPY_APP_PORT"])), Page).serve_forever()
"""


def probe_package(declared: str, undeclared: str) -> bytes:
    """The probing app: bound to one THERMOMETER, declaring one model, with the probes it makes."""
    manifest = {
        "name": "access-probe",
        "version": "1.0.0",
        "entry": "probe:main",
        "models": [{"name": "declared", "ref": declared}],
        "devices": [{"name": "room_temp", "type": "THERMOMETER"}],
        "page": {"port": 8000},
    }
    probes = {
        "bound sensor latest": ["GET", "/api/v1/devices/t-room/latest", None],
        "own view": ["GET", "/api/v1/app-instances/self", None],
        "declared model endpoints": ["GET", f"/api/v1/models/{declared}/endpoints", None],
        "unbound device latest": ["GET", "/api/v1/devices/t-far/latest", None],
        "unbound sibling latest": ["GET", "/api/v1/devices/t-deep/latest", None],
        "command bound sensor": ["POST", "/api/v1/devices/t-room/commands", {"command": "set"}],
        "command unbound controller": ["POST", "/api/v1/devices/fan-far/commands", {"command": "set"}],
        "undeclared model endpoints": ["GET", f"/api/v1/models/{undeclared}/endpoints", None],
        "undeclared model predict": ["POST", f"/api/v1/models/{undeclared}/predict", {"inputs": {}}],
        "list models": ["GET", "/api/v1/models", None],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.json", json.dumps(manifest))
        archive.writestr("probe.py", PROBE)
        archive.writestr("probes.json", json.dumps(probes))
    return buffer.getvalue()


def test_a_running_app_reaches_exactly_what_it_is_bound_to(
    client: FlaskClient, backends: Backends, canopy_home: Path, role_tokens: dict[Role, str]
) -> None:
    seed_devices(backends)
    ai_developer = role_tokens[Role.AI_DEVELOPER]
    declared = upload_model(client, ai_developer)
    undeclared = client.post(
        "/api/v1/models",
        data={"file": (io.BytesIO(zip_bytes(modern_files(name="other-model"))), "model.zip")},
        headers=bearer(ai_developer),
        content_type="multipart/form-data",
    ).get_json()["id"]
    uploaded = client.post(
        "/api/v1/apps",
        data={"file": (io.BytesIO(probe_package(declared, undeclared)), "app.zip")},
        headers=bearer(role_tokens[Role.APP_DEVELOPER]),
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 201, uploaded.get_json()
    owner = role_tokens[Role.END_USER]
    created = client.post(
        f"/api/v1/apps/{uploaded.get_json()['id']}/instances",
        json={"location": ROOM, "bind": {"room_temp": "t-room"}},
        headers=bearer(owner),
    )
    assert created.status_code == 201, created.get_json()
    instance_id = created.get_json()["id"]

    with running_platform(backends, canopy_home, "process") as gateway:
        started = requests.post(
            f"{gateway.url}/api/v1/app-instances/{instance_id}/start", headers=bearer(owner), timeout=10
        )
        assert started.status_code == 202, started.text
        view = settled(gateway.url, owner, instance_id, started.json()["generation"], timeout=120)
        assert view["status"] == "ready", view
        seen = requests.get(view["page_url"], headers=bearer(owner), timeout=10)
        assert seen.status_code == 200, seen.text

    assert seen.json() == {
        "bound sensor latest": 200,
        "own view": 200,
        "declared model endpoints": 200,
        "unbound device latest": 403,
        "unbound sibling latest": 403,
        "command bound sensor": 403,
        "command unbound controller": 403,
        "undeclared model endpoints": 403,
        "undeclared model predict": 403,
        "list models": 403,
    }
