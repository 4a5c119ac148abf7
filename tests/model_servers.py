"""Test helpers: model servers started as real subprocesses, and a fake gateway that resolves endpoints."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from platform_sdk.serving.__main__ import build_server
from platform_sdk.serving.app import ModelServer

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "models"
START_TIMEOUT = 90.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """A `python -m platform_sdk.serving` subprocess on 127.0.0.1, or its handler under gunicorn."""

    def __init__(
        self,
        package: Path,
        port: int | None = None,
        threads: int = 8,
        workers: int = 0,
        gunicorn: bool = False,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if gunicorn:
            command = [sys.executable, "-m", "gunicorn", "--worker-class", "gthread"]
            command += ["--workers", str(workers or 1), "--threads", str(threads)]
            command += [
                "--bind",
                f"127.0.0.1:{self.port}",
                f"tests.model_servers:package_wsgi({str(package)!r})",
            ]
        else:
            command = [sys.executable, "-m", "platform_sdk.serving", "--package", str(package)]
            command += ["--port", str(self.port), "--model-id", "m-test", "--threads", str(threads)]
            command += ["--workers", str(workers)] if workers else []  # 0: the server's own default
        self.process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Block until /health answers; fail with the server's stderr if it exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"model server exited: {self.stderr()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1.0) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"model server not ready after {timeout} s")

    def stderr(self) -> str:
        """Everything the server wrote to stderr (only once it has exited)."""
        assert self.process.stderr is not None
        return self.process.stderr.read().decode(errors="replace") if self.process.poll() is not None else ""

    def stop(self) -> None:
        """Terminate the server and reap it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()


@contextmanager
def running_server(
    package: Path, threads: int = 8, workers: int = 0, gunicorn: bool = False
) -> Iterator[ServerProcess]:
    """A ready model server for the package, stopped on exit."""
    server = ServerProcess(package, threads=threads, workers=workers, gunicorn=gunicorn)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], list[bytes]]


def wsgi(server: ModelServer) -> WsgiApp:
    """The model server's handler as a WSGI application, so werkzeug's test client can call it in-process."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        headers = {
            key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key[:5] == "HTTP_"
        }
        headers["content-type"] = environ.get("CONTENT_TYPE", "")
        status, payload, content_type, extra = server.handle(
            environ["REQUEST_METHOD"], environ["PATH_INFO"], headers, body
        )
        start_response(
            f"{status} -", [("Content-Type", content_type), ("Content-Length", str(len(payload))), *extra]
        )
        return [payload]

    return application


def package_wsgi(package: str) -> WsgiApp:
    """A package's model server handler as a WSGI application: gunicorn's app factory, to compare servers."""
    return wsgi(build_server(Path(package), "m-test"))


class FakeGateway:
    """Answers GET /api/v1/models/{name}/endpoints from a dict, counting the calls it served."""

    def __init__(self, token: str = "cnp_test") -> None:
        self.routes: dict[str, list[str]] = {}
        self.calls = 0
        self.token = token
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                gateway.calls += 1
                parts = self.path.strip("/").split("/")
                found = len(parts) == 5 and parts[:3] == ["api", "v1", "models"]
                found = found and parts[3] in gateway.routes
                if self.headers.get("Authorization") != f"Bearer {gateway.token}":
                    status, body = 401, {"error": {"code": "unauthorized", "message": "bad token"}}
                elif not found:
                    status, body = 404, {"error": {"code": "not_found", "message": "no such model"}}
                else:
                    status, body = 200, {"model_id": parts[3], "endpoints": gateway.routes[parts[3]]}
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
