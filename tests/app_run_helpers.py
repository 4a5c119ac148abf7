"""Helpers the app-run tests share: a tiny app package, its stored records, and waiting for a deployment."""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import zipfile
from typing import Any

import requests

from canopy.apps.manifest import AppManifest
from canopy.apps.records import AppInstance, AppRecord, app_package_key, new_app_id, new_instance_id
from canopy.runtime.backends import Backends
from services.gateway import accounts
from tests.deploy_helpers import wait_for

# A page on CANOPY_APP_PORT reporting its environment, the headers it got, whether the gateway answers
# at CANOPY_API_URL and whether another host port is reachable; it echoes POST bodies and sets a cookie.
PAGE = """
import json, os, socket, sys, urllib.parse, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "0.0.0.0" if os.path.exists("/.dockerenv") else "127.0.0.1"


def reach(host, port):
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        return "connected"
    except OSError as exc:
        return type(exc).__name__


class Page(BaseHTTPRequestHandler):
    def answer(self, body, status=200):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Set-Cookie", "app=1; Path=/")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/gateway":
            api = os.environ["CANOPY_API_URL"]
            with urllib.request.urlopen(api + "/api/v1/health", timeout=5) as reply:
                gateway = reply.status
            host = urllib.parse.urlsplit(api).hostname
            self.answer({"gateway": gateway, "other_port": reach(host, query["port"])})
        elif url.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.end_headers()
        else:
            self.answer({"env": dict(os.environ), "path": self.path, "headers": dict(self.headers),
                         "cwd": os.getcwd(), "sys_path0": sys.path[0]})

    def do_POST(self):
        data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.answer({"echo": data.decode()})


def serve():
    print("page starting", flush=True)
    ThreadingHTTPServer((HOST, int(os.environ["CANOPY_APP_PORT"])), Page).serve_forever()
"""
CRASH = """
import time
print("warming up", flush=True)
time.sleep(5)
print("fatal: the sensor is gone", flush=True)
raise SystemExit(3)
"""


def app_zip(files: dict[str, str]) -> bytes:
    """A zip holding app.json and `files`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.json", json.dumps({"name": "test-app"}))
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def page_app() -> tuple[AppManifest, bytes]:
    """An app whose page (page:serve) reports its environment."""
    manifest = AppManifest(name="env-page", entry="page:serve", page={"port": 8000})  # type: ignore[arg-type]
    return manifest, app_zip({"page.py": PAGE})


def crashing_app() -> tuple[AppManifest, bytes]:
    """An app without a page that exits with an error after 5 s."""
    return AppManifest(name="crasher", entry="crash.py"), app_zip({"crash.py": CRASH})


def store_instance(
    backends: Backends, manifest: AppManifest, package: bytes, developer: str, owner: str
) -> str:
    """Store an app (uploaded by `developer`) and an instance of it for `owner`; return the instance id."""
    app_id, instance_id = new_app_id(), new_instance_id()
    backends.blob.put(app_package_key(app_id), package)
    with backends.store.session() as session:
        session.add(
            AppRecord(
                id=app_id,
                name=manifest.name,
                version=manifest.version,
                format=manifest.format,
                manifest=manifest.model_dump_json(),
                owner_id=accounts.find_user(session, developer).id,
                blob_key=app_package_key(app_id),
                sha256=hashlib.sha256(package).hexdigest(),
                size=len(package),
            )
        )
        session.flush()
        session.add(
            AppInstance(
                id=instance_id,
                app_id=app_id,
                owner_id=accounts.find_user(session, owner).id,
                location="plant/lab",
                token_hash=secrets.token_hex(32),
            )
        )
    return instance_id


def settled(api: str, token: str, instance_id: str, generation: int, timeout: float = 300) -> dict[str, Any]:
    """The instance's deployment view once `generation` is ready, failed or stopped."""

    def final() -> dict[str, Any] | None:
        view: dict[str, Any] = requests.get(
            f"{api}/api/v1/app-instances/{instance_id}/deployment",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        done = view.get("generation") == generation and view["status"] in ("ready", "failed", "stopped")
        return view if done else None

    view: dict[str, Any] = wait_for(final, timeout, f"generation {generation} of {instance_id}", interval=0.5)
    return view
