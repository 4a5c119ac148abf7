"""Secrets at rest, attacked from outside: another local user, a non-terminal log, a fixed DB password."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import require

CANOPY = str(Path(sys.executable).with_name("canopy"))
OTHER_USER = "nobody"
SECRETS = ("canopy.db", "bus.db", "keys/node-commands.key", "credentials.json")
# A shell script another local user runs: one line per path, 1 if it can read a byte of it, else 0.
READ_PROBE = 'for path; do if head -c1 "$path" >/dev/null 2>&1; then echo 1; else echo 0; fi; done'


def _free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def open_parent() -> Iterator[Path]:
    """A directory any local user may traverse (pytest's own tmp_path is private to root)."""
    parent = Path(tempfile.mkdtemp(prefix="canopy-secrets-", dir="/tmp"))
    parent.chmod(0o755)
    yield parent
    shutil.rmtree(parent, ignore_errors=True)


def _env(home: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment of a platform in `home` with its API on `port`, no other CANOPY_* leaking in."""
    base = {key: value for key, value in os.environ.items() if not key.startswith("CANOPY_")}
    url = f"http://127.0.0.1:{port}"
    return {**base, "CANOPY_HOME": str(home), "CANOPY_API_PORT": str(port), "CANOPY_API_URL": url, **extra}


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `canopy` CLI."""
    return subprocess.run([CANOPY, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60)


def _start(env: dict[str, str]) -> subprocess.Popen[str]:
    """`canopy up` on the embedded defaults, returned once /api/v1/health answers."""
    process = subprocess.Popen(
        [CANOPY, "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    url = f"{env['CANOPY_API_URL']}/api/v1/health"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return process
        except requests.ConnectionError:
            if process.poll() is not None:
                pytest.fail(f"canopy up exited early:\n{process.communicate()[1]}")
            time.sleep(0.2)
    process.kill()
    pytest.fail("canopy up did not serve /api/v1/health within 60 s")


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Stop `canopy up` with SIGTERM; what it wrote to stdout and to stderr (the log)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        out, log = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        out, log = process.communicate()
    return out or "", log or ""


def _modes(home: Path) -> dict[str, tuple[int, int]]:
    """Every entry under home (home included) mapped to (permission bits, owner uid)."""
    entries = {".": home.lstat()}
    for root, dirs, files in os.walk(home):
        for name in (*dirs, *files):
            path = Path(root) / name
            entries[str(path.relative_to(home))] = path.lstat()
    return {name: (stat.S_IMODE(st.st_mode), st.st_uid) for name, st in entries.items()}


def _readable_by_other_user(paths: list[Path]) -> dict[str, bool]:
    """Which paths an unprivileged other local user can read."""
    result = subprocess.run(
        ["/bin/sh", "-c", READ_PROBE, "probe", *map(str, paths)],
        user=OTHER_USER,
        group="nogroup",
        extra_groups=[],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return {str(path): line == "1" for path, line in zip(paths, result.stdout.split(), strict=True)}


def test_canopy_home_is_private_to_the_platform(open_parent: Path) -> None:
    home = open_parent / "home"
    (home / "keys").mkdir(parents=True)
    (home / "credentials.json").write_text("{}")
    for loose in (home, home / "keys"):
        loose.chmod(0o755)
    (home / "credentials.json").chmod(0o644)
    env = _env(home, _free_port(), CANOPY_ADMIN_PASSWORD="home-admin-password")
    platform = _start(env)
    try:
        login = _cli(env, "login", "--user", "admin", "--password-stdin", stdin="home-admin-password\n")
        assert login.returncode == 0, login.stderr
        running = _modes(home)
        other = _readable_by_other_user([home / name for name in SECRETS])
    finally:
        _, log = _stop(platform)
    assert {"canopy.db-wal", "bus.db-wal"} <= set(running), running
    loose = {
        name: f"{mode:04o} uid {uid}"
        for name, (mode, uid) in {**running, **_modes(home)}.items()
        if uid != os.getuid() or mode != (0o700 if (home / name).is_dir() or name == "." else 0o600)
    }
    assert loose == {}
    assert other == dict.fromkeys(map(str, (home / name for name in SECRETS)), False)
    assert f"made {home} private: mode 0755 -> 0700" in log
    assert f"made {home / 'credentials.json'} private: mode 0644 -> 0600" in log


def test_generated_admin_password_is_never_printed_to_a_pipe_or_log(open_parent: Path) -> None:
    home = open_parent / "home"
    stdout, log = _stop(_start(_env(home, _free_port())))
    password = (home / "admin-password").read_text().strip()
    assert len(password) >= 20
    assert password not in stdout and password not in log
    assert f"password is in {home / 'admin-password'}" in log
    assert stat.S_IMODE((home / "admin-password").stat().st_mode) == 0o600
    assert _readable_by_other_user([home / "admin-password"]) == {str(home / "admin-password"): False}


def test_removed_admin_stays_removed_after_a_restart(open_parent: Path) -> None:
    home = open_parent / "home"
    env = _env(home, _free_port(), CANOPY_ADMIN_PASSWORD="first-admin-password")
    platform = _start(env)
    try:
        assert (
            _cli(
                env, "login", "--user", "admin", "--password-stdin", stdin="first-admin-password\n"
            ).returncode
            == 0
        )
        added = _cli(
            env, "user", "add", "ops", "--role", "platform_admin", "--password-stdin", stdin="ops-password\n"
        )
        assert added.returncode == 0, added.stderr
        assert _cli(env, "login", "--user", "ops", "--password-stdin", stdin="ops-password\n").returncode == 0
        assert _cli(env, "user", "remove", "admin").returncode == 0
        last = _cli(env, "user", "remove", "ops")
        assert last.returncode == 1 and "signed in as" in last.stderr
    finally:
        _stop(platform)
    platform = _start(env)
    try:
        again = _cli(env, "login", "--user", "admin", "--password-stdin", stdin="first-admin-password\n")
        users = _cli(env, "user", "list")
    finally:
        _stop(platform)
    assert again.returncode == 1 and "wrong user name or password" in again.stderr
    assert "admin " not in users.stdout.replace("platform_admin", "") and "ops" in users.stdout


def _pg_login(port: int, password: str) -> bool:
    """Whether the canopy role can sign in to the canopy database on 127.0.0.1:port with `password`."""
    import psycopg

    try:
        with psycopg.connect(
            host="127.0.0.1", port=port, user="canopy", password=password, dbname="canopy", connect_timeout=5
        ) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


def _as_postgres(port: int, sql: str) -> None:
    """Run SQL as PostgreSQL's superuser on the cluster at `port`."""
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "-p",
            str(port),
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ],
        cwd="/",
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture()
def postgres_installs(open_parent: Path) -> Iterator[tuple[int, Path, Path]]:
    """A PostgreSQL port of its own (a throw-away Debian cluster) and two CANOPY_HOMEs to install from."""
    require(
        "PostgreSQL's cluster tools (apt-get install postgresql)",
        shutil.which("pg_createcluster") is not None,
    )
    port = _free_port()
    first, second = open_parent / "first", open_parent / "second"
    yield port, first, second
    _cli(_env(first, 0, CANOPY_POSTGRES_PORT=str(port)), "infra", "down", "postgres")
    listing = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True)
    for line in listing.stdout.splitlines():
        version, name, cluster_port = line.split()[:3]
        if cluster_port == str(port):
            subprocess.run(["pg_dropcluster", "--stop", version, name], cwd="/", check=True, timeout=120)


def test_each_postgres_install_gets_its_own_password_and_the_fixed_one_is_gone(
    postgres_installs: tuple[int, Path, Path],
) -> None:
    port, first, second = postgres_installs
    passwords = []
    for home in (first, second):
        env = _env(home, 0, CANOPY_POSTGRES_PORT=str(port))
        installed = _cli(env, "infra", "up", "postgres")
        assert installed.returncode == 0, installed.stdout + installed.stderr
        password_file = home / "infra" / "postgres" / "password"
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        assert _readable_by_other_user([password_file]) == {str(password_file): False}
        passwords.append(password_file.read_text().strip())
        assert passwords[-1] not in installed.stdout + installed.stderr
        assert _pg_login(port, passwords[-1]) and not _pg_login(port, "canopy")
        status = _cli(env, "infra", "status")
        assert f"CANOPY_DB_URL=postgresql://canopy:***@127.0.0.1:{port}/canopy" in status.stdout
        assert passwords[-1] not in status.stdout
        shown = _cli(env, "infra", "status", "--show-secrets").stdout
        assert f"CANOPY_DB_URL=postgresql://canopy:{passwords[-1]}@127.0.0.1:{port}/canopy" in shown
        # What an install made before per-install passwords left behind: the fixed canopy/canopy.
        _as_postgres(port, "ALTER ROLE canopy WITH PASSWORD 'canopy'")
        assert _pg_login(port, "canopy")
    first_password, second_password = passwords
    assert first_password != second_password and len(second_password) >= 24
    assert not _pg_login(port, first_password)
