"""A small stand-in for the gateway's SDK-facing routes, on 127.0.0.1 in a thread (stdlib http.server).

It serves /app-instances/self, device latest/stream (server-sent events, as the real gateway sends
them), commands (checked against the type's parameters like the real one: a 400 naming the field),
model endpoints with a model server behind them, and notifications; it records what it was sent.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "cni_i0123456789_secret"


@dataclass
class GatewayState:
    """What the fake answers and what it was sent."""

    view: dict[str, Any] | None = None
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)  # device id -> type definition
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)  # device id -> reading
    queued: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    legacy_models: set[str] = field(default_factory=set)
    notify_limit: int = 10
    requests: list[tuple[str, str]] = field(default_factory=list)
    commands: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    predictions: list[tuple[str, str, bytes]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    subscribers: dict[str, list[queue.Queue[dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, device: str, reading: dict[str, Any]) -> None:
        """A new reading: the device's latest, delivered to every stream open on it now."""
        with self.lock:
            self.latest[device] = reading
            for subscriber in self.subscribers[device]:
                subscriber.put(reading)

    def wait_for_stream(self, device: str, timeout: float = 10.0) -> None:
        """Wait until a stream on the device is open."""
        deadline = time.monotonic() + timeout
        while not self.subscribers[device]:
            assert time.monotonic() < deadline, f"no stream on {device} opened"
            time.sleep(0.01)


def _error(status: int, code: str, message: str, details: Any = None) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"code": code, "message": message, "retryable": status in (429, 503, 504)}
    if details is not None:
        body["details"] = details
    return status, {"error": body}


class _Handler(BaseHTTPRequestHandler):
    """Routes one request of the fake gateway."""

    protocol_version = "HTTP/1.1"
    state: GatewayState
    server_url: str

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        """GET routes."""
        self._route("GET")

    def do_POST(self) -> None:
        """POST routes."""
        self._route("POST")

    def _route(self, method: str) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        body = self._body() if method == "POST" else b""
        with self.state.lock:
            self.state.requests.append((method, path))
        if path.startswith("/model-server/"):
            self._send(*self._predict(path.split("/")[2], body))
            return
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._send(*_error(401, "unauthorized", "bad or missing token"))
            return
        segments = path.strip("/").split("/")[2:]  # after api/v1
        if method == "GET" and segments == ["app-instances", "self"]:
            view = self.state.view
            self._send(*((200, view) if view else _error(403, "forbidden", "not an instance token")))
        elif method == "GET" and len(segments) == 3 and segments[0] == "devices" and segments[2] == "stream":
            self._stream(segments[1], int(query.get("limit", ["0"])[0]))
        elif method == "GET" and len(segments) == 3 and segments[0] == "devices" and segments[2] == "latest":
            reading = self.state.latest.get(segments[1])
            self._send(200, {"device_id": segments[1], "latest": reading and {"reading": reading, "seq": 1}})
        elif method == "GET" and len(segments) == 2 and segments[0] == "devices":
            self._send(200, {"id": segments[1], "type": self.state.devices[segments[1]]["name"]})
        elif method == "GET" and len(segments) == 2 and segments[0] == "device-types":
            found = [d for d in self.state.devices.values() if d["name"] == segments[1]]
            self._send(200, {"name": segments[1], "definition": found[0]})
        elif method == "POST" and len(segments) == 3 and segments[2] == "commands":
            self._send(*self._command(segments[1], json.loads(body)))
        elif method == "POST" and len(segments) == 3 and segments[0] == "models" and segments[2] == "predict":
            self._send(*self._predict(segments[1], body))  # the gateway forwarding to a replica
        elif method == "GET" and len(segments) == 3 and segments[0] == "models":
            self._send(200, {"endpoints": [f"{self.server_url}/model-server/{segments[1]}"]})
        elif method == "POST" and segments == ["notifications"]:
            self._send(*self._notify(json.loads(body)))
        else:
            self._send(*_error(404, "not_found", f"no route {method} {path}"))

    def _command(self, device: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Check the command as the gateway does, acknowledge it with the parameters as the new state."""
        commands = self.state.devices[device].get("commands", {})
        name = (
            body.get("command") or self.state.devices[device].get("default_command") or next(iter(commands))
        )
        allowed = commands[name]["parameters"]
        problems = {key: "unknown field" for key in body.get("params", {}) if key not in allowed}
        if problems:
            return _error(400, "validation_failed", f"invalid command {name}: {problems}", problems)
        with self.state.lock:
            self.state.commands.append((device, {"command": name, "params": body["params"]}))
        return 200, {"status": "acked", "command": name, "state": body["params"]}

    def _predict(self, model_id: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """A model server: a legacy model answers {"output": ...}, a Canopy one {"outputs": ...}."""
        content_type = self.headers.get("Content-Type", "")
        with self.state.lock:
            self.state.predictions.append((model_id, content_type, body))
        if content_type.startswith("multipart/"):
            return 200, {"output": "an image"}
        inputs = json.loads(body)["inputs"]
        if model_id in self.state.legacy_models:
            return 200, {"output": sorted(inputs)}
        return 200, {"outputs": {"echo": inputs}}

    def _notify(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.state.lock:
            if len(self.state.notifications) >= self.state.notify_limit:
                return _error(429, "too_many_requests", "more than 10 notifications a minute")
            self.state.notifications.append(body)
        return 202, {"accepted": True}

    def _stream(self, device: str, limit: int) -> None:
        """Server-sent events like the gateway's: a comment, keep-alives, 'event: reading' records."""
        readings: queue.Queue[dict[str, Any]] = queue.Queue()
        with self.state.lock:
            for reading in self.state.queued.pop(device, []):
                readings.put(reading)
            self.state.subscribers[device].append(readings)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        self.wfile.write(b": stream of device readings\n\n")
        self.wfile.flush()
        sent = 0
        try:
            while not limit or sent < limit:
                try:
                    reading = readings.get(timeout=0.2)
                except queue.Empty:
                    self.wfile.write(b": keep-alive\n\n")
                    self.wfile.flush()
                    continue
                record = {"device_id": device, "reading": reading, "seq": sent, "source": "http"}
                self.wfile.write(f"event: reading\ndata: {json.dumps(record)}\n\n".encode())
                self.wfile.flush()
                sent += 1
        except OSError:
            pass
        finally:
            with self.state.lock:
                self.state.subscribers[device].remove(readings)


@contextmanager
def fake_gateway(state: GatewayState) -> Iterator[str]:
    """Serve `state` on 127.0.0.1 at a free port; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    url = f"http://127.0.0.1:{server.server_address[1]}"
    server.RequestHandlerClass = type("Handler", (_Handler,), {"state": state, "server_url": url})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def legacy_state() -> GatewayState:
    """An original-format weather app: TEMP (one field), PRESSURE (two), a CAMERA, a DISPLAY, a model."""
    temp = {"name": "TEMP", "kind": "sensor", "fields": {"data": {"type": "float"}}}
    pressure = {
        "name": "PRESSURE",
        "kind": "sensor",
        "fields": {"zeta": {"type": "float"}, "alpha": {"type": "int"}},
    }
    camera = {"name": "CAMERA", "kind": "sensor", "fields": {"data": {"type": "image"}}}
    display = {
        "name": "DISPLAY",
        "kind": "controller",
        "state": {"data": {"type": "string"}},
        "commands": {"set": {"parameters": {"data": {"type": "string"}}}},
    }
    buzzer = {
        "name": "BUZZER",
        "kind": "controller",
        "state": {"on": {"type": "bool"}},
        "commands": {
            "beep": {"parameters": {"seconds": {"type": "int"}, "on": {"type": "bool"}}},
            "stop": {"parameters": {}},
        },
        "default_command": "beep",
    }
    devices = {"temp-1": temp, "press-1": pressure, "cam-1": camera, "display-1": display, "buzzer-1": buzzer}
    roles = {
        "sensor_0": "temp-1",
        "sensor_1": "press-1",
        "sensor_2": "cam-1",
        "controller_0": "display-1",
        "alarm": "buzzer-1",
    }
    view = {
        "id": "i0123456789",
        "app_id": "a1",
        "app": "weather",
        "format": "legacy",
        "location": "hyd/lab",
        "devices": {
            role: {
                "device": device,
                "type": devices[device]["name"],
                "kind": devices[device]["kind"],
                "definition": devices[device],
            }
            for role, device in roles.items()
        },
        "models": {"model_0": "m-weather", "forecast": "m-forecast"},
    }
    return GatewayState(view=view, devices=devices, legacy_models={"m-weather"})
