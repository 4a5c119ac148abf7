"""/health and Prometheus /metrics over HTTP for a standalone service process."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

HealthCheck = Callable[[], dict[str, object]]


class OpsServer:
    """Serves GET /health (JSON, 200 or 503) and GET /metrics on host:port (port 0 picks one)."""

    name = "ops-http"

    def __init__(self, service: str, health: HealthCheck, host: str = "127.0.0.1", port: int = 0) -> None:
        self.service = service
        self.health = health
        self.host = host
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind and serve on a daemon thread."""
        self._server = ThreadingHTTPServer((self.host, self.port), self._handler_class())
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.name, daemon=True)
        self._thread.start()

    def problem(self) -> str | None:
        """Why the server is not serving, or None."""
        return None if self._thread is not None and self._thread.is_alive() else "not serving"

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        ops = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/health":
                    report = {"service": ops.service, **ops.health()}
                    status = 200 if report.get("status") == "ok" else 503
                    self._send(status, "application/json", json.dumps(report).encode())
                elif self.path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest())
                else:
                    self._send(404, "application/json", b'{"error":{"code":"not_found"}}')

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler
