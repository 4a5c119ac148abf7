"""A model's requirements never run code on the platform host.

They are refused at upload, re-checked at deploy, resolved to wheels only, by a pip that sees no
platform secret; stored packages are digest-checked before each build.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from canopy.errors import ConfigError, Timeout
from canopy.models import ModelRecord
from canopy.roles import Role
from canopy.runtime import Service
from canopy.runtime.backends import Backends
from canopy.workloads.pip_sandbox import HostSandbox, run_sandboxed
from canopy.workloads.wheels import download_command
from services.deployer.service import deployer_components
from services.node_agent.service import agent_components
from services.node_manager.service import node_manager_components
from tests.deploy_helpers import (
    IRIS_PACKAGE,
    SHARED_CACHE,
    enrolled_key,
    share_build_caches,
    wait_for,
    zip_package,
)
from tests.functional.conftest import bearer

pytestmark = pytest.mark.timeout(300)

SETUP_PY = """
import pathlib, urllib.request
pathlib.Path({marker!r}).write_text("built")
urllib.request.urlopen("http://127.0.0.1:{port}/built-by-setup-py", timeout=5)
from setuptools import setup
setup(name="pwn", version="1.0")
"""


class HostileIndex:
    """A local web server offering `pwn-1.0.tar.gz`, an sdist whose setup.py reports that it ran."""

    def __init__(self, root: Path, marker: Path) -> None:
        self.requests: list[str] = []
        self.marker = marker
        handler = self._handler(root)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        sdist = io.BytesIO()
        with tarfile.open(fileobj=sdist, mode="w:gz") as archive:
            files = {
                "pwn-1.0/setup.py": SETUP_PY.format(marker=str(marker), port=self.port),
                "pwn-1.0/PKG-INFO": "Metadata-Version: 2.1\nName: pwn\nVersion: 1.0\n",
            }
            for name, text in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(text.encode())
                archive.addfile(info, io.BytesIO(text.encode()))
        (root / "pwn-1.0.tar.gz").write_bytes(sdist.getvalue())
        (root / "simple" / "pwn").mkdir(parents=True)
        (root / "simple" / "pwn" / "index.html").write_text(
            '<html><body><a href="../../pwn-1.0.tar.gz">pwn-1.0.tar.gz</a></body></html>'
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def _handler(self, root: Path) -> type[SimpleHTTPRequestHandler]:
        index = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self) -> None:
                index.requests.append(self.path)
                super().do_GET()

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler

    def assert_never_built(self) -> None:
        """The sdist's setup.py never ran: no marker file, no call home."""
        assert not self.marker.exists(), "the hostile sdist was built"
        assert "/built-by-setup-py" not in self.requests, "the hostile sdist's setup.py ran"


@pytest.fixture()
def hostile(tmp_path: Path) -> Iterator[HostileIndex]:
    """The hostile index, served for the test."""
    (tmp_path / "index").mkdir()
    index = HostileIndex(tmp_path / "index", tmp_path / "pwned-marker")
    threading.Thread(target=index.server.serve_forever, daemon=True).start()
    yield index
    index.server.shutdown()
    index.server.server_close()


@pytest.fixture()
def developer(role_tokens: dict[Role, str]) -> dict[str, str]:
    """Headers of an ai_developer."""
    return bearer(role_tokens[Role.AI_DEVELOPER])


@pytest.fixture()
def platform(backends: Backends, canopy_home: Path) -> Iterator[None]:
    """Node manager, deployer and one process-runtime agent on the embedded backends."""
    share_build_caches(canopy_home)
    components = [
        *node_manager_components(backends),
        *deployer_components(backends),
        *agent_components(backends, "node-a", enrolled_key(backends, "node-a"), runtime="process"),
    ]
    service = Service("test-platform", components)
    service.start()
    try:
        yield
    finally:
        service.stop()


def iris(requirements: list[str], name: str = "iris-reqs") -> bytes:
    """The iris example package with its requirements replaced."""
    manifest = json.loads((IRIS_PACKAGE / "model.json").read_text())
    manifest.update(name=name, requirements=requirements)
    return zip_package(IRIS_PACKAGE, {"model.json": json.dumps(manifest)})


def legacy_weather(requirements_txt: str) -> bytes:
    """The original platform's weather model (config.json) with its dependency file replaced."""
    package = IRIS_PACKAGE.parents[1] / "legacy-weather" / "package"
    return zip_package(package, {"requirements.txt": requirements_txt})


def upload(client: FlaskClient, headers: dict[str, str], data: bytes) -> Any:
    """POST a package to the gateway."""
    return client.post(
        "/api/v1/models",
        data={"file": (io.BytesIO(data), "package.zip")},
        headers=headers,
        content_type="multipart/form-data",
    )


def deploy_and_wait(client: FlaskClient, headers: dict[str, str], model_id: str) -> dict[str, Any]:
    """Deploy one replica and return the deployment once it is ready, failed or stopped."""
    reply = client.post(f"/api/v1/models/{model_id}/deploy", json={"replicas": 1}, headers=headers)
    assert reply.status_code == 202, reply.get_json()
    generation = reply.get_json()["generation"]

    def done() -> dict[str, Any] | None:
        view: dict[str, Any] = client.get(f"/api/v1/models/{model_id}/deployment", headers=headers).get_json()
        final = view["generation"] == generation and view["status"] in ("ready", "failed", "stopped")
        return view if final else None

    result: dict[str, Any] = wait_for(done, 240, f"the deployment of {model_id}")
    return result


def test_a_direct_url_requirement_is_refused_at_upload_naming_the_line(
    client: FlaskClient, developer: dict[str, str], hostile: HostileIndex
) -> None:
    line = f"pwn @ {hostile.url}/pwn-1.0.tar.gz"
    reply = upload(client, developer, iris(["numpy==2.4.6", line]))
    assert reply.status_code == 400, reply.get_json()
    error = reply.get_json()["error"]
    assert "direct URLs are not allowed" in error["details"]["requirements[1]"]
    assert line in error["message"]
    legacy = upload(client, developer, legacy_weather(f"numpy==1.22.3\n{line}\n"))
    assert legacy.status_code == 400, legacy.get_json()
    assert "direct URLs" in legacy.get_json()["error"]["details"]["requirements.txt:2"]
    assert client.get("/api/v1/models", headers=developer).get_json()["models"] == []
    assert hostile.requests == []
    hostile.assert_never_built()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("-r other.txt", "pip options"),
        ("-e .", "pip options"),
        ("-c constraints.txt", "pip options"),
        ("-f http://127.0.0.1:9/links", "pip options"),
        ("--index-url http://127.0.0.1:9/simple", "pip options"),
        ("--extra-index-url http://127.0.0.1:9/simple", "pip options"),
        ("--trusted-host 127.0.0.1", "pip options"),
        ("numpy==2.4.6 --hash=sha256:00", "not a valid requirement"),
        ("git+https://127.0.0.1:9/pwn.git", "VCS requirements"),
        ("./pwn", "local paths"),
        ("/tmp/pwn-1.0.tar.gz", "local paths"),
        ("pwn-1.0.tar.gz", "looks like a file"),
        ("numpy===2.4.6", "operator '==='"),
        ("numpy==", "has no version"),
        ("numpy\n--index-url http://127.0.0.1:9/simple", "control character"),
    ],
)
def test_option_lines_and_non_index_requirements_are_refused(
    client: FlaskClient, developer: dict[str, str], line: str, reason: str
) -> None:
    reply = upload(client, developer, iris([line]))
    assert reply.status_code == 400, reply.get_json()
    assert reason in reply.get_json()["error"]["details"]["requirements[0]"]


def test_a_stored_manifest_tampered_after_upload_is_refused_by_the_deployer(
    client: FlaskClient,
    backends: Backends,
    developer: dict[str, str],
    hostile: HostileIndex,
    platform: None,
) -> None:
    reply = upload(client, developer, iris(["numpy==2.4.6"]))
    assert reply.status_code == 201, reply.get_json()
    model_id = reply.get_json()["id"]
    line = f"pwn @ {hostile.url}/pwn-1.0.tar.gz"
    with backends.store.session() as session:
        record = session.get(ModelRecord, model_id)
        assert record is not None
        manifest = json.loads(record.manifest)
        record.manifest = json.dumps({**manifest, "requirements": ["--index-url http://127.0.0.1:9", line]})
    view = deploy_and_wait(client, developer, model_id)
    assert view["status"] == "failed", view
    assert "pip options such as '--index-url' are not allowed" in view["message"]
    assert line in view["message"] and "direct URLs are not allowed" in view["message"]
    assert hostile.requests == []
    hostile.assert_never_built()


def test_a_package_changed_in_storage_after_upload_is_not_deployed(
    client: FlaskClient, backends: Backends, developer: dict[str, str], platform: None
) -> None:
    reply = upload(client, developer, iris(["numpy==2.4.6"]))
    assert reply.status_code == 201, reply.get_json()
    model_id, recorded = reply.get_json()["id"], reply.get_json()["sha256"]
    with backends.store.session() as session:
        record = session.get(ModelRecord, model_id)
        assert record is not None and record.sha256 == recorded
        key = record.blob_key
    evil_hook = "import os\n\n\ndef preprocess(data):\n    os.system('id')\n    return data\n"
    backends.blob.put(key, io.BytesIO(zip_package(IRIS_PACKAGE, {"hooks.py": evil_hook})))
    view = deploy_and_wait(client, developer, model_id)
    assert view["status"] == "failed", view
    assert f"sha256:{recorded} was recorded at upload" in view["message"]
    assert "changed after upload" in view["message"]
    assert not (backends.config.home / "packages" / model_id).exists()


def test_a_pin_with_only_a_source_release_fails_naming_it(
    client: FlaskClient, developer: dict[str, str], platform: None
) -> None:
    # docopt 0.6.2 is on PyPI as docopt-0.6.2.tar.gz only: there is no wheel to take.
    reply = upload(client, developer, iris(["docopt==0.6.2"], name="iris-sdist-only"))
    assert reply.status_code == 201, reply.get_json()
    view = deploy_and_wait(client, developer, reply.get_json()["id"])
    assert view["status"] == "failed", view
    assert "requirement docopt==0.6.2 has no wheel" in view["message"]


def test_pip_never_builds_a_source_package_even_from_a_hostile_index(
    hostile: HostileIndex, tmp_path: Path
) -> None:
    target = tmp_path / "wheels"
    target.mkdir()
    (target / "requirements.txt").write_text("pwn==1.0\n")
    command = download_command(target / "requirements.txt", target, "3.11")
    command += ["--index-url", f"{hostile.url}/simple"]
    result = run_sandboxed(command, HostSandbox(hidden=(), writable=(target,)), timeout=120)
    assert result.returncode != 0
    assert "No matching distribution found for pwn==1.0" in result.stderr
    assert "/simple/pwn/" in hostile.requests and "/pwn-1.0.tar.gz" not in hostile.requests
    hostile.assert_never_built()


PROBE = """
import json, os, pathlib, sys
home, target, platform_pid = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
def readable(path):
    try:
        return path.read_text()[:40]
    except OSError as exc:
        return type(exc).__name__
(target / "written").write_text("ok")
print(json.dumps({
    "env": sorted(os.environ),
    "key": readable(home / "node-commands.key"),
    "listing": sorted(p.name for p in home.iterdir()) if home.exists() else None,
    "parent_environ": readable(pathlib.Path(f"/proc/{os.getppid()}/environ")),
    "platform_environ": readable(pathlib.Path(f"/proc/{platform_pid}/environ")),
    "etc_write": readable(pathlib.Path("/etc/hostname")) and str(os.access("/etc", os.W_OK)),
}))
"""


def test_the_sandboxed_pip_sees_no_platform_secret(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A home outside /tmp: the sandbox's private /tmp alone would already hide one under it.
    SHARED_CACHE.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="probe-home-", dir=SHARED_CACHE))
    request.addfinalizer(lambda: shutil.rmtree(home, ignore_errors=True))
    target = home / "wheels" / "abc"
    (home / "node-commands.key").write_text("SIGNING-KEY-SECRET")
    (home / "canopy.db").write_text("store")
    monkeypatch.setenv("CANOPY_ADMIN_PASSWORD", "admin-secret")
    monkeypatch.setenv("CANOPY_DB_URL", "postgresql://canopy:pw@127.0.0.1/canopy")
    monkeypatch.setenv("AZURE_STORAGE_KEY", "azure-secret")
    command = [sys.executable, "-c", PROBE, str(home), str(target), str(os.getpid())]
    result = run_sandboxed(command, HostSandbox(hidden=(home,), writable=(target,)), timeout=60)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert set(seen["env"]) <= {"HOME", "LANG", "PATH", "PIP_CONFIG_FILE", "PWD"}
    assert seen["key"] == "FileNotFoundError" and seen["listing"] == ["wheels"]
    assert "CANOPY" not in seen["parent_environ"] and "CANOPY" not in seen["platform_environ"]
    assert "admin-secret" not in result.stdout and "SIGNING-KEY" not in result.stdout
    assert seen["etc_write"] == "False"
    assert (target / "written").read_text() == "ok"


def test_a_sandbox_that_cannot_be_made_is_an_error_never_an_unsandboxed_run(
    request: pytest.FixtureRequest,
) -> None:
    SHARED_CACHE.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="probe-bad-", dir=SHARED_CACHE))
    request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
    not_a_folder, writable = base / "file", base / "out"
    not_a_folder.write_text("x")
    command = [sys.executable, "-c", f"open({str(writable / 'ran')!r}, 'w').write('ran')"]
    with pytest.raises(ConfigError, match="bubblewrap cannot make a sandbox"):
        run_sandboxed(command, HostSandbox(hidden=(not_a_folder,), writable=(writable,)), timeout=30)
    assert not (writable / "ran").exists()


def test_a_pip_run_that_hangs_is_stopped_at_its_time_limit(request: pytest.FixtureRequest) -> None:
    SHARED_CACHE.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="probe-hang-", dir=SHARED_CACHE))
    request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
    late = base / "out" / "still-running"
    hang = f"import time; time.sleep(4); open({str(late)!r}, 'w').write('ran on')"
    started = time.monotonic()
    with pytest.raises(Timeout, match="did not finish within 1 s"):
        run_sandboxed(
            [sys.executable, "-c", hang], HostSandbox(hidden=(), writable=(late.parent,)), timeout=1
        )
    assert time.monotonic() - started < 3.5, "the run was not cut at its limit"
    time.sleep(5)
    assert not late.exists(), "the timed-out run kept going inside its sandbox"
