"""`python -m services.gateway` serves under gunicorn: health, portal, cached assets, body limits, SIGTERM."""

from __future__ import annotations

import re
import select
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from services.gateway.limits import LOGIN_BYTES, upload_limits
from tests.gateway_process import free_port, start_gateway, wait_healthy

ASSET = re.compile(r'href="(/portal/static/portal\.[0-9a-f]{12}\.css)"')


@dataclass
class Gateway:
    """A gateway running under gunicorn in a subprocess."""

    url: str
    port: int
    process: subprocess.Popen[str]


@pytest.fixture()
def gateway(canopy_home: Path) -> Iterator[Gateway]:
    """The gateway under gunicorn with a generated admin password (written to a file: no terminal)."""
    port = free_port()
    process = start_gateway(canopy_home, port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
    except RuntimeError as failed:
        pytest.fail(str(failed))
    yield Gateway(url, port, process)
    if process.poll() is None:
        process.kill()
        process.wait()


def send_chunked(port: int, path: str, headers: str, first: bytes, budget: int) -> tuple[bytes, int]:
    """POST a chunked body (`first`, then filler) until the server answers or `budget` bytes went out.

    Returns the start of the answer and how many body bytes were sent before it came (a complete
    body ends with the last chunk).
    """
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n{headers}\r\n"
        sock.sendall(head.encode())
        chunk = first
        try:
            while not select.select([sock], [], [], 0)[0]:
                if sent >= budget:
                    sock.sendall(b"0\r\n\r\n")
                    break
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                chunk = b"x" * min(65536, budget - sent)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed the connection while the rest was on its way
        return read_reply(sock), sent


def read_reply(sock: socket.socket) -> bytes:
    """Read one HTTP answer: its head, then as many body bytes as its Content-Length names."""
    reply = b""
    while b"\r\n\r\n" not in reply:
        data = sock.recv(65536)
        if not data:
            return reply
        reply += data
    head, _, body = reply.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        data = sock.recv(65536)
        if not data:
            break
        body += data
    return head + b"\r\n\r\n" + body


def admin_token(url: str, password: str) -> str:
    """A bearer token of the admin user."""
    reply = requests.post(
        f"{url}/api/v1/auth/login", json={"user": "admin", "password": password}, timeout=10
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["token"])


def test_gunicorn_serves_the_api_the_portal_and_cached_assets(gateway: Gateway, canopy_home: Path) -> None:
    health = requests.get(f"{gateway.url}/api/v1/health", timeout=5)
    assert health.headers["Server"].startswith("gunicorn")
    assert health.json()["status"] == "ok" and "heartbeat:gateway" in health.json()["components"]
    login = requests.get(f"{gateway.url}/portal/login", timeout=5)
    assert login.status_code == 200 and 'name="csrf_token"' in login.text
    found = ASSET.search(login.text)
    assert found, login.text
    asset = requests.get(gateway.url + found.group(1), timeout=5)
    assert asset.status_code == 200 and asset.headers["Content-Type"].startswith("text/css")
    assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    password = (canopy_home / "admin-password").read_text().strip()
    assert (
        requests.get(
            f"{gateway.url}/api/v1/auth/whoami",
            headers={"Authorization": f"Bearer {admin_token(gateway.url, password)}"},
            timeout=5,
        ).json()["role"]
        == "platform_admin"
    )


def test_chunked_bodies_over_the_route_limit_are_refused(gateway: Gateway, canopy_home: Path) -> None:
    json_headers = "Content-Type: application/json\r\n"
    reply, sent = send_chunked(gateway.port, "/api/v1/auth/login", json_headers, b"{", 64 * 1024 * 1024)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b"larger than this route accepts (4096 bytes)" in reply and LOGIN_BYTES < sent < 32 * 1024 * 1024
    password = (canopy_home / "admin-password").read_text().strip()
    small = f'{{"user": "admin", "password": "{password}"}}'.encode()
    reply, _ = send_chunked(gateway.port, "/api/v1/auth/login", json_headers, small, len(small))
    assert reply.startswith(b"HTTP/1.1 201"), reply[:300]

    limit = upload_limits()["/api/v1/device-types/upload"]
    boundary = "canopyboundary"
    upload_headers = (
        f"Authorization: Bearer {admin_token(gateway.url, password)}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
    )
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="types.zip"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    ).encode()
    reply, sent = send_chunked(gateway.port, "/api/v1/device-types/upload", upload_headers, part, 2 * limit)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:300]
    assert limit < sent < 2 * limit
    assert requests.get(f"{gateway.url}/api/v1/health", timeout=5).status_code == 200


def test_sigterm_stops_the_gateway_cleanly(gateway: Gateway) -> None:
    session = requests.Session()
    assert session.get(f"{gateway.url}/api/v1/health", timeout=5).status_code == 200
    gateway.process.send_signal(signal.SIGTERM)
    output, _ = gateway.process.communicate(timeout=30)
    assert gateway.process.returncode == 0, output
    assert "Worker exiting" in output and "Shutting down: Master" in output
    assert "Traceback" not in output and "failed to stop" not in output
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{gateway.url}/api/v1/health", timeout=2)


def test_a_bad_setting_is_refused_by_name_before_gunicorn_starts(canopy_home: Path) -> None:
    process = start_gateway(canopy_home, free_port(), CANOPY_API_THREADS="many")
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "CANOPY_API_THREADS='many' is not valid" in output and "Traceback" not in output
