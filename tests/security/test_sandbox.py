"""A hostile model deployed on the process runtime cannot read platform secrets, other workloads or the host.

Uploaded and deployed through the real gateway, deployer and agent on the embedded defaults; the
model's own code reports what it managed to read, write and exhaust.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest
import requests
from click.testing import CliRunner

from bootstrap.cli import cli
from canopy.archive import extract_zip
from canopy.roles import Role
from canopy.runtime import Service
from canopy.runtime.backends import Backends
from canopy.workloads import cgroups
from canopy.workloads.commands import key_paths
from canopy.workloads.docker_runtime import DockerRuntime, container_name
from services.deployer.service import deployer_components
from services.gateway.app import create_app
from services.gateway.server import HttpServer
from services.node_agent.service import agent_components
from services.node_manager.service import node_manager_components
from tests.deploy_helpers import docker_model_spec, enrolled_key, share_build_caches, wait_for
from tests.functional.conftest import ADMIN_PASSWORD, backends, issue_token, role_tokens  # noqa: F401
from tests.security.hostile_model import hostile_package

MARKER = "sandbox-marker-4f1d9c"  # in the platform's environment: no workload may read it


def _needs_root_and_bubblewrap() -> None:
    """The sandbox needs root (a uid per workload, cgroups) and bubblewrap; fail under CI, else skip."""
    problem = "" if os.geteuid() == 0 else "the sandbox tests run as root"
    problem = problem or (
        "" if shutil.which("bwrap") else "bubblewrap is missing (canopy infra up installs it)"
    )
    if problem and os.environ.get("CI") == "true":
        pytest.fail(problem)
    if problem:
        pytest.skip(problem)


@pytest.fixture()
def platform(
    backends: Backends,  # noqa: F811
    canopy_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """Gateway over HTTP, node manager, deployer and a process agent; the admin has logged in with the CLI."""
    _needs_root_and_bubblewrap()
    monkeypatch.setenv("SANDBOX_TEST_SECRET", MARKER)
    share_build_caches(canopy_home)
    gateway = HttpServer(create_app(backends), "127.0.0.1", 0)
    service = Service(
        "sandbox-platform",
        [
            gateway,
            *node_manager_components(backends),
            *deployer_components(backends),
            *agent_components(backends, "node-a", enrolled_key(backends, "node-a"), runtime="process"),
        ],
    )
    service.start()
    url = f"http://127.0.0.1:{gateway.port}"
    monkeypatch.setenv("CANOPY_API_URL", url)
    login = CliRunner().invoke(cli, ["login", "-u", "admin", "--password-stdin"], input=ADMIN_PASSWORD)
    assert login.exit_code == 0, login.output
    try:
        yield url
    finally:
        service.stop()


def _deploy(url: str, token: str, package: bytes) -> tuple[str, str]:
    """Upload and deploy over HTTP as the attacker would; return (model id, endpoint)."""
    headers = {"Authorization": f"Bearer {token}"}
    files = {"file": ("package.zip", io.BytesIO(package))}
    reply = requests.post(f"{url}/api/v1/models", files=files, headers=headers, timeout=30)
    assert reply.status_code == 201, reply.text
    model_id = reply.json()["id"]
    reply = requests.post(f"{url}/api/v1/models/{model_id}/deploy", json={}, headers=headers, timeout=30)
    assert reply.status_code == 202, reply.text

    def settled() -> dict[str, Any] | None:
        view: dict[str, Any] = requests.get(
            f"{url}/api/v1/models/{model_id}/deployment", headers=headers, timeout=10
        ).json()
        return view if view["status"] in ("ready", "failed") else None

    view = wait_for(settled, 400, f"the deployment of {model_id}")
    assert view["status"] == "ready", view
    return model_id, view["endpoints"][0]


def _attack(endpoint: str, attack: str) -> dict[str, Any]:
    """Ask the hostile model to run one attack; its prediction is what it managed."""
    reply = requests.post(f"{endpoint}/predict", json={"attack": attack}, timeout=120)
    assert reply.status_code == 200, reply.text
    report: dict[str, Any] = reply.json()["outputs"]["report"]
    return report


def test_a_workload_reads_no_secret_no_other_workload_and_writes_nothing_it_runs_from(
    platform: str,
    canopy_home: Path,
    role_tokens: dict[Role, str],  # noqa: F811
) -> None:
    token = role_tokens[Role.AI_DEVELOPER]
    victim_id, _ = _deploy(
        platform, token, hostile_package("victim", {"files": [], "dirs": [], "agent_pid": 1}, MARKER)
    )
    victim_package = next((canopy_home / "packages" / victim_id).rglob("model.json")).parent
    envs = canopy_home / "envs"  # the victim's (rootfs-*), or on unsandboxed code any stored virtualenv
    victim_env = (sorted(envs.glob("rootfs-*/pyvenv.cfg")) or sorted(envs.glob("*/pyvenv.cfg")))[0].parent
    for stale in victim_env.rglob("pwned*"):  # the shared cache may keep one from a run on unsandboxed code
        stale.unlink()
    key, _ = key_paths(canopy_home)
    files = [key, canopy_home / "canopy.db", canopy_home / "bus.db", canopy_home / "credentials.json"]
    files += [victim_package / "hostile.py", victim_env / "pyvenv.cfg"]
    assert all(path.exists() for path in files), "every target exists on the host"
    dirs = [canopy_home, canopy_home / "envs", victim_package, victim_env / "bin", canopy_home / "packages"]
    targets = {"files": [str(p) for p in files], "dirs": [str(p) for p in dirs], "agent_pid": os.getpid()}
    _, endpoint = _deploy(platform, token, hostile_package("hostile", targets, MARKER))

    report = _attack(endpoint, "escape")
    for moment in ("load", "predict"):
        seen = report[moment]
        assert seen["uid"] not in (0, os.getuid()), "a uid of its own, not the platform's"
        assert {path: text for path, text in seen["reads"].items() if text is not None} == {}
        assert {path: found for path, found in seen["listings"].items() if found is not None} == {}
        assert {what: done for what, done in seen["writes"].items() if done} == {}
        assert seen["environs"] == {}, "no process environment with the platform's settings"
        assert not [cmd for cmd in seen["processes"].values() if "victim" in cmd or "pytest" in cmd]
        assert "hostile-was-here" in seen["tmp"] and "victim-was-here" not in seen["tmp"], "a private /tmp"
    assert not (victim_package / "pwned.txt").exists()
    assert not list(victim_env.rglob("pwned*"))


def _cgroup_limits(endpoint: str) -> dict[str, str]:
    """The CPU, memory and pids limits of the cgroup of the process serving `endpoint`, read on the host."""
    port = urlsplit(endpoint).port
    listening = psutil.net_connections("tcp")
    pid = next(
        c.pid for c in listening if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
    )
    paths: dict[str, str] = {}  # controller ("" on v2) -> the process's cgroup path
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        paths |= dict.fromkeys(controllers.split(","), path.lstrip("/"))
    if cgroups.detect() == "v2":
        return {name: (cgroups.ROOT / paths[""] / name).read_text().strip() for name in V2_LIMITS}
    limits: dict[str, str] = {}
    for key in V1_LIMITS:
        controller, file = key.split("/")
        limits[key] = (cgroups.ROOT / controller / paths[controller] / file).read_text().strip()
    return limits


# A workload of 0.5 CPU and 256 MiB, once ready, and the pids limit of every workload.
V2_LIMITS = {"cpu.max": "50000 100000", "memory.max": str(256 * 1024 * 1024), "pids.max": "256"}
V1_LIMITS = {
    "cpu/cpu.cfs_quota_us": "50000",
    "memory/memory.limit_in_bytes": str(256 * 1024 * 1024),
    "pids/pids.max": "256",
}


def test_limits_stop_fork_bombs_memory_hogs_big_files_and_endless_logs(
    platform: str,
    canopy_home: Path,
    role_tokens: dict[Role, str],  # noqa: F811
) -> None:
    token = role_tokens[Role.AI_DEVELOPER]
    _, endpoint = _deploy(
        platform, token, hostile_package("hog", {"files": [], "dirs": [], "agent_pid": 1}, MARKER)
    )
    limits = V2_LIMITS if cgroups.detect() == "v2" else V1_LIMITS
    wait_for(lambda: _cgroup_limits(endpoint) == limits, 20, f"the workload's cgroup limits {limits}")
    memory = _attack(endpoint, "memory")
    assert not memory["allocated"], "1 GiB in a workload limited to 256 MiB"
    big = _attack(endpoint, "file")
    assert big["written"] <= 64 * 1024 * 1024 and big["error"], big
    for _ in range(3):
        _attack(endpoint, "chatty")
    logs = list((canopy_home / "agents" / "node-a" / "logs").glob("*"))
    assert logs and sum(path.stat().st_size for path in logs) <= 2 * 1024 * 1024 + 64 * 1024, [
        (path.name, path.stat().st_size) for path in logs
    ]
    assert requests.get(f"{endpoint}/health", timeout=5).status_code == 200, "the workload survived so far"
    try:  # last: the forks' page tables may push the workload past its memory limit, which kills it
        forks = _attack(endpoint, "fork")
        assert forks["forked"] < 1000 and forks["error"], forks
    except requests.ConnectionError:
        pass
    assert subprocess.run(["true"], check=False).returncode == 0, "the host can still fork"
    assert requests.get(f"{platform}/api/v1/health", timeout=5).status_code == 200, "so did the platform"


@pytest.fixture()
def host_listener() -> Iterator[tuple[int, list[str]]]:
    """A TCP listener on every host address (as a careless host service would be); records who connects."""
    server = socket.create_server(("0.0.0.0", 0))
    server.settimeout(0.2)
    accepted: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, peer = server.accept()
            except TimeoutError:
                continue
            accepted.append(peer[0])
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join(2)
    server.close()


def test_docker_workloads_reach_neither_the_host_nor_each_other(
    docker_socket: str, canopy_home: Path, tmp_path: Path, host_listener: tuple[int, list[str]]
) -> None:
    _needs_root_and_bubblewrap()
    share_build_caches(canopy_home)
    directory = tmp_path / "net-model"
    extract_zip(hostile_package("net", {"files": [], "dirs": [], "agent_pid": 1}, MARKER), directory)
    spec = docker_model_spec("sec-net", directory, canopy_home)
    runtime = DockerRuntime(f"sec-net-{uuid.uuid4().hex[:6]}")
    names = [f"sec-victim-{uuid.uuid4().hex[:6]}", f"sec-attacker-{uuid.uuid4().hex[:6]}"]
    try:
        endpoints = [runtime.start(name, spec, 1) for name in names]
        assert all(runtime.wait_ready(n, e).ready for n, e in zip(names, endpoints, strict=True))
        victim = runtime.client.containers.get(container_name(names[0])).attrs["NetworkSettings"]["Networks"]
        network = next(iter(victim.values()))
        listener_port, accepted = host_listener
        ports = [listener_port, 9092, 9093, 5432, 10000, 1883, 8080]
        targets = [f"{network['Gateway']}:{port}" for port in ports] + [f"{network['IPAddress']}:8000"]
        reached = _attack(endpoints[1], "connect:" + ",".join(targets))
        assert {target: ok for target, ok in reached.items() if ok} == {}
        assert accepted == [], "the host listener saw a workload connection"
        assert requests.get(f"{endpoints[0]}/health", timeout=5).status_code == 200, "published ports answer"
    finally:
        for name in names:
            runtime.stop(name)
        runtime.close()
