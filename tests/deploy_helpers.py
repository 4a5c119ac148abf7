"""Helpers the model deployment tests share: a shared wheel/env cache, zipping packages, waiting."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from platform_sdk._client import ApiClient

from canopy.config import load_config
from canopy.contracts.deploy import Resources, WorkloadSpec
from canopy.ed25519 import Ed25519PrivateKey
from canopy.nodes.enrolment import enrol_here
from canopy.runtime import Service
from canopy.runtime.backends import Backends
from canopy.workloads.builder import Package, deps_image, shared_sdk
from canopy.workloads.docker_pool import POOL_LABEL
from canopy.workloads.process_runtime import free_port
from services.deployer.service import deployer_components
from services.gateway.app import create_app
from services.gateway.server import HttpServer
from services.node_agent.service import agent_components
from services.node_manager.service import node_manager_components

REPO = Path(__file__).resolve().parents[1]
IRIS_PACKAGE = REPO / "examples" / "models" / "sklearn-iris" / "package"
LEGACY_2022_PACKAGE = REPO / "examples" / "models" / "legacy-weather-2022" / "package"
IRIS_INPUT = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
SHARED_CACHE = Path(os.environ.get("CANOPY_TEST_CACHE", Path.home() / ".cache" / "canopy-tests"))


def docker_model_spec(
    model_id: str,
    directory: Path,
    canopy_home: Path,
    resources: Resources | None = None,
    requirements: list[str] | None = None,
    python: str = "3.11",
) -> WorkloadSpec:
    """A docker workload spec of the model package in `directory`, its dependencies image built here."""
    package = Package(model_id, directory, uuid.uuid4().hex[:16], requirements or [], python)
    return WorkloadSpec(
        model_id=model_id,
        runtime="docker",
        image=deps_image(package, canopy_home, Path(load_config().rootfs_dir)),
        package_dir=str(directory),
        sdk_dir=str(shared_sdk(canopy_home)),
        resources=resources or Resources(),
    )


def model_containers(client: Any, model_id: str) -> list[Any]:
    """Every container (running or not) of a model: labelled with it, or a pool container it took.

    A taken pool container keeps the pool's labels; its name, canopy-<workload id>, starts with the model id.
    """
    labelled = client.containers.list(all=True, filters={"label": f"canopy.model={model_id}"})
    pooled = client.containers.list(all=True, filters={"label": POOL_LABEL})
    return [*labelled, *(c for c in pooled if c.name.startswith(f"canopy-{model_id[:40]}-g"))]


def listeners(root: int) -> dict[int, psutil.Process]:
    """The processes under `root` (a pid) listening on TCP, by port: model servers and their spares."""
    found: dict[int, psutil.Process] = {}
    for child in psutil.Process(root).children(recursive=True):
        try:
            ports = [c.laddr.port for c in child.net_connections("tcp") if c.laddr and c.status == "LISTEN"]
        except psutil.Error:
            continue
        found.update(dict.fromkeys(ports, child))
    return found


def port_of(endpoint: str) -> int:
    """The port of an http://host:port endpoint."""
    return int(endpoint.rsplit(":", 1)[1])


@contextmanager
def running_platform(
    backends: Backends, home: Path, runtime: str, host: str = "127.0.0.1"
) -> Iterator[HttpServer]:
    """Gateway over HTTP, node manager, deployer and one agent (node-a, zone=lab) of the given runtime.

    The gateway listens on `host` ("0.0.0.0" lets docker app workloads reach it on their bridge);
    the agent gives apps its 127.0.0.1 URL (docker workloads: the bridge address, same port).
    """
    share_build_caches(home)
    port = free_port()
    gateway = HttpServer(create_app(backends), host, port)
    components = [
        gateway,
        *node_manager_components(backends),
        *deployer_components(backends),
        *agent_components(
            backends,
            "node-a",
            enrolled_key(backends, "node-a"),
            runtime=runtime,
            labels={"zone": "lab"},
            gateway=f"http://127.0.0.1:{port}",
        ),
    ]
    service = Service("test-platform", components)
    service.start()
    try:
        yield gateway
    finally:
        service.stop()


def deploy(api: ApiClient, package: bytes, timeout: float = 600) -> tuple[str, dict[str, Any]]:
    """Upload a package zip and deploy one replica; the model id and the deployment view once it finished."""
    model_id: str = api.post("/api/v1/models", files={"file": ("package.zip", package)})["id"]
    generation = api.post(f"/api/v1/models/{model_id}/deploy", json={"replicas": 1})["generation"]
    return model_id, settled(api, model_id, generation, timeout)


def settled(api: ApiClient, model_id: str, generation: int, timeout: float, interval: float = 0.5) -> Any:
    """The deployment view once `generation` of a model finished (ready, failed or stopped)."""

    def finished() -> dict[str, Any] | None:
        view: dict[str, Any] = api.get(f"/api/v1/models/{model_id}/deployment")
        done = view["generation"] == generation and view["status"] in ("ready", "failed", "stopped")
        return view if done else None

    return wait_for(finished, timeout, f"{model_id} generation {generation}", interval=interval)


def share_build_caches(home: Path) -> None:
    """Point CANOPY_HOME's wheel cache and virtualenvs at a cache shared by test runs."""
    for name in ("wheels", "envs"):
        shared = SHARED_CACHE / name
        shared.mkdir(parents=True, exist_ok=True)
        link = home / name
        if not link.exists():
            home.mkdir(parents=True, exist_ok=True)
            link.symlink_to(shared, target_is_directory=True)


def zip_package(directory: Path, changes: dict[str, str | bytes] | None = None) -> bytes:
    """A zip of a package directory, with files replaced or added by `changes`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            name = path.relative_to(directory).as_posix()
            if path.is_file() and name not in (changes or {}):
                archive.write(path, name)
        for name, content in (changes or {}).items():
            archive.writestr(name, content)
    return buffer.getvalue()


def failing_hook_package() -> bytes:
    """The iris package with a preprocess hook whose module raises when the server loads it."""
    manifest = json.loads((IRIS_PACKAGE / "model.json").read_text())
    manifest.update(name="iris-broken-hook", preprocess="hooks.py:preprocess")
    hooks = "raise RuntimeError('the hook exploded at load')\n\n\ndef preprocess(data):\n    return data\n"
    return zip_package(IRIS_PACKAGE, {"model.json": json.dumps(manifest), "hooks.py": hooks})


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.3) -> Any:
    """Poll until condition() is truthy and return it; fail the test naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def clean_dir(path: Path) -> None:
    """Remove a directory if it exists."""
    shutil.rmtree(path, ignore_errors=True)


def enrolled_key(backends: Backends, node_id: str) -> Ed25519PrivateKey:
    """Enrol `node_id` (as `canopy node add` + the agent's join would) and return the key it joined with."""
    with backends.store.session() as session:
        return enrol_here(session, backends.config.home, node_id, datetime.now(UTC))


CANOPY = str(Path(sys.executable).with_name("canopy"))


@contextmanager
def canopy_up_demo(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`canopy up --demo` writing its log to `log`; stopped with SIGTERM afterwards."""
    with log.open("wb") as out:
        process = subprocess.Popen([CANOPY, "up", "--demo"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
