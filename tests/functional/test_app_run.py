"""App instances on the embedded backends with the process runtime: page, proxy, environment, exit, stop."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from flask.testing import FlaskClient

from bootstrap.commands import app_run
from canopy.apps.records import AppInstance
from canopy.deployments.records import request_generation, unfinished_requests
from canopy.roles import Role
from canopy.runtime.backends import Backends
from canopy.workloads.sandbox import workload_env
from services.gateway.server import HttpServer
from tests.app_run_helpers import crashing_app, page_app, settled, store_instance
from tests.deploy_helpers import running_platform, wait_for
from tests.functional.conftest import bearer

DEVELOPER, OWNER, OTHER = "user-app-developer", "user-end-user", "user-ai-developer"
APP_VARIABLES = {"CANOPY_API_URL", "CANOPY_TOKEN", "CANOPY_INSTANCE_ID", "CANOPY_APP_PORT"}


@pytest.fixture()
def platform(backends: Backends, canopy_home: Path) -> Iterator[HttpServer]:
    """Gateway over HTTP, node manager, deployer and one process-runtime agent on the same backends."""
    with running_platform(backends, canopy_home, "process") as gateway:
        yield gateway


def _start(api: str, token: str, instance_id: str) -> dict[str, object]:
    reply = requests.post(
        f"{api}/api/v1/app-instances/{instance_id}/start", headers=bearer(token), timeout=10
    )
    assert reply.status_code == 202, reply.text
    return settled(api, token, instance_id, reply.json()["generation"])


def test_an_app_runs_serves_its_page_to_its_user_only_and_stops(
    platform: HttpServer, backends: Backends, role_tokens: dict[Role, str]
) -> None:
    api = f"http://127.0.0.1:{platform.port}"
    owner, developer = role_tokens[Role.END_USER], role_tokens[Role.APP_DEVELOPER]
    other, admin = role_tokens[Role.AI_DEVELOPER], role_tokens[Role.PLATFORM_ADMIN]
    instance_id = store_instance(backends, *page_app(), DEVELOPER, OWNER)
    page = f"{api}/apps/{instance_id}/"
    assert requests.get(page, headers=bearer(owner), timeout=10).status_code == 503

    view = _start(api, developer, instance_id)
    assert view["status"] == "ready", view
    assert view["page_url"] == page and view["instance_id"] == instance_id
    assert [r["node_id"] for r in view["replicas"]] == ["node-a"]

    shown = requests.get(f"{page}some/path?x=1", headers={**bearer(owner), "Cookie": "s=secret"}, timeout=10)
    assert shown.status_code == 200, shown.text
    assert "Set-Cookie" not in shown.headers
    seen = shown.json()
    assert seen["path"] == "/some/path?x=1" and seen["cwd"] == seen["sys_path0"] == "/opt/model"
    assert seen["headers"]["X-Forwarded-Prefix"] == f"/apps/{instance_id}"
    assert not {"Authorization", "Cookie"} & set(seen["headers"])
    env = seen["env"]
    # bubblewrap sets PWD after --chdir; everything else is the platform's, and nothing more.
    assert set(env) - {"PWD"} == set(workload_env(1)) | APP_VARIABLES, sorted(env)
    assert env["CANOPY_INSTANCE_ID"] == instance_id and env["CANOPY_API_URL"] == api
    with backends.store.session() as session:
        stored = session.get(AppInstance, instance_id)
        assert stored is not None
        assert hashlib.sha256(env["CANOPY_TOKEN"].split("_", 2)[2].encode()).hexdigest() == stored.token_hash
    gateway = requests.get(f"{page}gateway?port=9", headers=bearer(admin), timeout=20).json()
    assert gateway["gateway"] == 200
    echoed = requests.post(f"{page}form", data=b"x" * 5000, headers=bearer(owner), timeout=10)
    assert echoed.json() == {"echo": "x" * 5000}
    moved = requests.get(f"{page}moved", headers=bearer(owner), allow_redirects=False, timeout=10)
    assert moved.headers["Location"] == f"/apps/{instance_id}/elsewhere"

    for token in (other, developer):
        refused = requests.get(page, headers=bearer(token), timeout=10)
        assert refused.status_code == 403 and "user it runs for" in refused.text
    assert requests.get(page, timeout=10).status_code == 401
    assert (
        requests.get(
            f"{api}/api/v1/app-instances/{instance_id}/deployment", headers=bearer(other), timeout=10
        )
    ).status_code == 403

    endpoint = view["replicas"][0]["endpoint"]
    reply = requests.post(f"{api}/api/v1/app-instances/{instance_id}/stop", headers=bearer(owner), timeout=10)
    assert reply.status_code == 202
    stopped = settled(api, owner, instance_id, reply.json()["generation"], timeout=60)
    assert stopped["status"] == "stopped" and stopped["replicas"] == []
    with pytest.raises(requests.ConnectionError):
        requests.get(endpoint, timeout=2)
    closed = requests.get(page, headers=bearer(owner), timeout=10)
    assert closed.status_code == 503 and "not running" in closed.text


def test_a_new_start_mints_a_new_credential(
    platform: HttpServer, backends: Backends, role_tokens: dict[Role, str]
) -> None:
    api, owner = f"http://127.0.0.1:{platform.port}", role_tokens[Role.END_USER]
    instance_id = store_instance(backends, *page_app(), DEVELOPER, OWNER)
    tokens = []
    for _ in range(2):
        assert _start(api, owner, instance_id)["status"] == "ready"
        env = requests.get(f"{api}/apps/{instance_id}/", headers=bearer(owner), timeout=10).json()["env"]
        tokens.append(env["CANOPY_TOKEN"])
        stop = requests.post(
            f"{api}/api/v1/app-instances/{instance_id}/stop", headers=bearer(owner), timeout=10
        )
        assert settled(api, owner, instance_id, stop.json()["generation"])["status"] == "stopped"
    assert tokens[0] != tokens[1] and all(t.startswith(f"cni_{instance_id}_") for t in tokens)


def test_an_app_that_exits_is_reported_failed_with_its_last_log_lines(
    platform: HttpServer, backends: Backends, role_tokens: dict[Role, str]
) -> None:
    api, owner = f"http://127.0.0.1:{platform.port}", role_tokens[Role.END_USER]
    instance_id = store_instance(backends, *crashing_app(), DEVELOPER, OWNER)
    view = _start(api, owner, instance_id)
    assert view["status"] == "ready" and view["page_url"] is None, view

    def failed() -> dict[str, object] | None:
        reply = requests.get(
            f"{api}/api/v1/app-instances/{instance_id}/deployment", headers=bearer(owner), timeout=10
        ).json()
        return reply if reply["status"] == "failed" else None

    dead = wait_for(failed, 30, "the exit to be reported")
    assert "the app stopped running" in dead["message"]
    assert "fatal: the sensor is gone" in "\n".join(dead["logs"]), dead["logs"]
    assert [r["state"] for r in dead["replicas"]] == ["failed"]
    assert dead["events"][-1]["stage"] == "failed"


def test_bad_instance_requests_are_refused(
    backends: Backends, role_tokens: dict[Role, str], client: FlaskClient
) -> None:
    owner, other = bearer(role_tokens[Role.END_USER]), bearer(role_tokens[Role.AI_DEVELOPER])
    assert client.post("/api/v1/app-instances/inope/start", headers=owner).status_code == 404
    instance_id = store_instance(backends, *page_app(), DEVELOPER, OWNER)
    assert client.post(f"/api/v1/app-instances/{instance_id}/stop", headers=owner).status_code == 409
    assert client.get(f"/api/v1/app-instances/{instance_id}/deployment", headers=owner).status_code == 404
    assert client.post(f"/api/v1/app-instances/{instance_id}/start", headers=other).status_code == 403
    bad = client.post(
        f"/api/v1/app-instances/{instance_id}/start", json={"node_labels": ["x"]}, headers=owner
    )
    assert bad.status_code == 400
    assert client.get(f"/apps/{instance_id}", headers=owner).status_code == 308


def test_the_cli_runs_shows_the_url_of_and_stops_an_instance(
    platform: HttpServer,
    backends: Backends,
    role_tokens: dict[Role, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = f"http://127.0.0.1:{platform.port}"
    monkeypatch.setenv("CANOPY_API_URL", api)
    monkeypatch.setenv("CANOPY_TOKEN", role_tokens[Role.END_USER])
    created: list[tuple[str, str, tuple[str, ...]]] = []
    manifest, package = page_app()

    def create(_client: object, app_id: str, location: str, binds: tuple[str, ...]) -> dict[str, str]:
        """Stands in for POST /api/v1/apps/<id>/instances (tested with real bindings elsewhere)."""
        created.append((app_id, location, binds))
        return {"id": store_instance(backends, manifest, package, DEVELOPER, OWNER)}

    monkeypatch.setattr(app_run, "create_instance", create)
    runner = CliRunner()
    ran = runner.invoke(app_run.run, ["a123", "--location", "plant/lab", "--bind", "fan=fan-1"])
    assert ran.exit_code == 0, ran.output
    instance_id = ran.output.strip().splitlines()[-1]
    assert created == [("a123", "plant/lab", ("fan=fan-1",))] and instance_id.startswith("i")
    assert "building" in ran.output and "ready" in ran.output
    shown = runner.invoke(app_run.url, [instance_id])
    assert shown.output.strip() == f"{api}/apps/{instance_id}/", shown.output
    stopped = runner.invoke(app_run.stop, [instance_id])
    assert stopped.exit_code == 0 and "stopped" in stopped.output, stopped.output
    assert "not running" in runner.invoke(app_run.url, [instance_id]).output

    manifest, package = crashing_app()  # what `create` stores from now on
    ran = runner.invoke(app_run.run, ["a123", "--location", "plant/lab"])
    assert ran.exit_code == 0, ran.output
    pageless = runner.invoke(app_run.url, [ran.output.strip().splitlines()[-1]])
    assert pageless.exit_code == 1 and "has no page" in pageless.output


def test_a_restarted_deployer_resumes_an_unfinished_instance_start(
    backends: Backends, role_tokens: dict[Role, str]
) -> None:
    instance_id = store_instance(backends, *page_app(), DEVELOPER, OWNER)
    with backends.store.session() as session:
        generation = request_generation(session, instance_id, 1, {"zone": "lab"})
    with backends.store.session() as session:
        (resumed,) = unfinished_requests(session)
        app = session.get(AppInstance, instance_id)
        assert app is not None
        blob_key = app.app.blob_key
    assert (resumed.kind, resumed.model_id, resumed.generation) == ("app", instance_id, generation)
    assert resumed.replicas == 1 and resumed.node_labels == {"zone": "lab"} and resumed.blob_key == blob_key
