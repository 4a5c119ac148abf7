"""`canopy up` on the embedded defaults serves the API; `canopy login` works against it."""

from __future__ import annotations

import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

CANOPY = str(Path(sys.executable).with_name("canopy"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def platform(canopy_home: Path) -> Iterator[tuple[str, dict[str, str], subprocess.Popen[str]]]:
    port = _free_port()
    env = {**os.environ, "CANOPY_API_PORT": str(port), "CANOPY_API_URL": f"http://127.0.0.1:{port}"}
    process = subprocess.Popen(
        [CANOPY, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                break
        except (requests.ConnectionError, requests.Timeout):  # a loaded machine answers late
            if process.poll() is not None:
                pytest.fail(f"canopy up exited early:\n{process.stdout.read() if process.stdout else ''}")
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("canopy up did not serve /api/v1/health within 60 s")
    yield url, env, process
    if process.poll() is None:
        process.kill()
        process.wait()


def _run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CANOPY, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60)


def _admin_password(home: Path) -> str:
    """The generated admin password `canopy up` wrote to a file, its stdout not being a terminal."""
    return (home / "admin-password").read_text().strip()


def test_up_writes_generated_admin_password_to_a_file_and_login_works(
    platform: tuple[str, dict[str, str], subprocess.Popen[str]], canopy_home: Path
) -> None:
    url, env, process = platform
    assert requests.get(f"{url}/api/v1/health", timeout=5).json()["status"] == "ok"
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    password = _admin_password(canopy_home)
    assert password not in output and f"{canopy_home / 'admin-password'}" in output

    restarted = subprocess.Popen(
        [CANOPY, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(f"{url}/api/v1/health", timeout=1)
                break
            except (requests.ConnectionError, requests.Timeout):  # a loaded machine answers late
                time.sleep(0.2)
        wrong = _run(env, "login", "--user", "admin", "--password-stdin", stdin="wrong-password\n")
        assert wrong.returncode == 1 and "wrong user name or password" in wrong.stderr
        signed_in = _run(env, "login", "--user", "admin", "--password-stdin", stdin=f"{password}\n")
        assert signed_in.returncode == 0, signed_in.stderr
        assert "as admin (platform_admin)" in signed_in.stdout
        assert "admin (platform_admin)" in _run(env, "whoami").stdout
        assert _run(env, "logout").returncode == 0
        assert _run(env, "whoami").returncode == 1
    finally:
        restarted.terminate()
        restarted.wait(timeout=30)
    assert "with password" not in (restarted.stdout.read() if restarted.stdout else "")


def test_up_shows_generated_admin_password_on_a_terminal(canopy_home: Path) -> None:
    port = _free_port()
    env = {**os.environ, "CANOPY_API_PORT": str(port), "CANOPY_API_URL": f"http://127.0.0.1:{port}"}
    controller, terminal = pty.openpty()
    process = subprocess.Popen([CANOPY, "up"], env=env, stdout=terminal, stderr=subprocess.DEVNULL)
    os.close(terminal)
    try:
        shown = b""
        while b"(shown once" not in shown and select.select([controller], [], [], 30)[0]:
            shown += os.read(controller, 4096)
        password = shown.decode().split("with password: ")[1].split()[0]
        for _ in range(100):
            login = _run(env, "login", "--user", "admin", "--password-stdin", stdin=f"{password}\n")
            if "cannot reach" not in login.stderr:
                break
            time.sleep(0.3)
    finally:
        process.terminate()
        process.wait(timeout=30)
        os.close(controller)
    assert login.returncode == 0, login.stderr
    assert not (canopy_home / "admin-password").exists()


def test_login_reads_password_from_environment(
    platform: tuple[str, dict[str, str], subprocess.Popen[str]], canopy_home: Path
) -> None:
    _, env, process = platform
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)
    password = _admin_password(canopy_home)
    process2 = subprocess.Popen([CANOPY, "up"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        for _ in range(100):
            if _run({**env, "CANOPY_PASSWORD": password}, "login", "--user", "admin").returncode == 0:
                break
            time.sleep(0.3)
        token_env = {**env, "CANOPY_TOKEN": "cnp_bogus_token"}
        assert "invalid API token" in _run(token_env, "whoami").stderr
        assert _run(env, "whoami").returncode == 0
    finally:
        process2.terminate()
        process2.wait(timeout=30)


def test_help_describes_every_command(canopy_home: Path) -> None:
    help_text = _run(dict(os.environ), "--help").stdout
    for command in ("up", "infra", "login", "logout", "whoami", "user", "token", "config"):
        assert f"  {command}" in help_text
