"""Upload, deploy, predict and undeploy a model on the embedded backends with the process runtime."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from flask.testing import FlaskClient
from platform_sdk._client import ApiClient
from platform_sdk.models import ModelClient

from bootstrap.cli import cli
from canopy.roles import Role
from canopy.runtime.backends import Backends
from services.gateway.server import HttpServer
from tests.deploy_helpers import (
    IRIS_INPUT,
    IRIS_PACKAGE,
    failing_hook_package,
    listeners,
    port_of,
    running_platform,
    wait_for,
    zip_package,
)
from tests.functional.conftest import bearer


@pytest.fixture()
def platform(backends: Backends, canopy_home: Path) -> Iterator[HttpServer]:
    """Gateway over HTTP, node manager, deployer and one process-runtime agent on the same backends."""
    with running_platform(backends, canopy_home, "process") as gateway:
        yield gateway


def _upload(client: FlaskClient, token: str, package: bytes) -> str:
    reply = client.post(
        "/api/v1/models",
        data={"file": (io.BytesIO(package), "package.zip")},
        headers=bearer(token),
        content_type="multipart/form-data",
    )
    assert reply.status_code == 201, reply.get_json()
    model_id: str = reply.get_json()["id"]
    return model_id


def _final(client: FlaskClient, token: str, model_id: str, generation: int, timeout: float) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        view: dict[str, Any] = client.get(
            f"/api/v1/models/{model_id}/deployment", headers=bearer(token)
        ).get_json()
        final = view["generation"] == generation and view["status"] in ("ready", "failed", "stopped")
        return view if final else None

    result: dict[str, Any] = wait_for(done, timeout, f"generation {generation} of {model_id} to finish")
    return result


def test_upload_deploy_predict_undeploy(
    platform: HttpServer, client: FlaskClient, role_tokens: dict[Role, str], caplog: pytest.LogCaptureFixture
) -> None:
    token = role_tokens[Role.AI_DEVELOPER]
    model_id = _upload(client, token, zip_package(IRIS_PACKAGE))
    assert (
        client.get(f"/api/v1/models/{model_id}/endpoints", headers=bearer(token)).get_json()["endpoints"]
        == []
    )

    reply = client.post(f"/api/v1/models/{model_id}/deploy", json={"replicas": 1}, headers=bearer(token))
    assert reply.status_code == 202, reply.get_json()
    view = _final(client, token, model_id, reply.get_json()["generation"], timeout=300)
    assert view["status"] == "ready", view
    stages = [event["stage"] for event in view["events"]]
    assert stages[:3] == ["building", "placing", "building"] and stages[-1] == "ready"
    assert view["nodes"] == ["node-a"] and len(view["endpoints"]) == 1
    shown = client.get(f"/api/v1/models/{model_id}", headers=bearer(token)).get_json()
    assert (shown["deployment"], shown["replicas"], shown["nodes"]) == ("ready", "1/1", ["node-a"])
    assert shown["endpoints"] == view["endpoints"]

    direct = requests.post(f"{view['endpoints'][0]}/predict", json=IRIS_INPUT, timeout=10)
    assert direct.status_code == 200, direct.text
    sdk = ModelClient(ApiClient(f"http://127.0.0.1:{platform.port}", token))
    answer = sdk.call(model_id, IRIS_INPUT, timeout=10)
    assert answer["species"] == "setosa"

    endpoint = view["endpoints"][0]
    spare = wait_for(lambda: _other_listener(endpoint), 60, "the model's warm spare to listen")
    assert requests.get(f"http://127.0.0.1:{spare}/health", timeout=10).status_code == 200
    reply = client.post(f"/api/v1/models/{model_id}/undeploy", headers=bearer(token))
    assert reply.status_code == 202
    view = _final(client, token, model_id, reply.get_json()["generation"], timeout=60)
    assert view["status"] == "stopped" and view["replicas"] == [] and view["endpoints"] == []
    assert "refused a workload event" not in caplog.text  # the node's "stopped" is believed, not waited out
    for gone in (endpoint, f"http://127.0.0.1:{spare}"):  # an undeploy stops the spare with the replica
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{gone}/health", timeout=2)


def _other_listener(endpoint: str) -> int | None:
    """A port other than the endpoint's that a sandbox under this process listens on (the spare)."""
    others = set(listeners(os.getpid())) - {port_of(endpoint)}
    return min(others) if others else None


def test_a_replica_given_two_cpus_serves_from_two_worker_processes_in_its_sandbox(
    platform: HttpServer, client: FlaskClient, role_tokens: dict[Role, str]
) -> None:
    token = role_tokens[Role.AI_DEVELOPER]
    manifest = json.loads((IRIS_PACKAGE / "model.json").read_text())
    manifest.update(name="iris-two-workers", resources={"cpu": 2, "memory_mb": 512})
    model_id = _upload(client, token, zip_package(IRIS_PACKAGE, {"model.json": json.dumps(manifest)}))
    reply = client.post(f"/api/v1/models/{model_id}/deploy", json={"replicas": 1}, headers=bearer(token))
    view = _final(client, token, model_id, reply.get_json()["generation"], timeout=300)
    assert view["status"] == "ready", view
    endpoint = view["endpoints"][0]
    # Each request on a new connection, taken by whichever worker waits in accept(): they take turns.
    workers = {requests.get(f"{endpoint}/health", timeout=10).headers["Canopy-Worker"] for _ in range(8)}
    assert len(workers) == 2
    for _ in range(10):
        answer = requests.post(f"{endpoint}/predict", json=IRIS_INPUT, timeout=10)
        assert answer.json()["outputs"]["species"] == "setosa"
    metrics = requests.get(f"{endpoint}/metrics", timeout=10).text
    assert 'route="/predict",status="200"} 10.0' in metrics, metrics
    reply = client.post(f"/api/v1/models/{model_id}/undeploy", headers=bearer(token))
    view = _final(client, token, model_id, reply.get_json()["generation"], timeout=60)
    assert view["status"] == "stopped"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{endpoint}/health", timeout=2)


def test_a_hook_raising_at_load_is_reported_failed_with_logs_within_30_s(
    platform: HttpServer, client: FlaskClient, role_tokens: dict[Role, str]
) -> None:
    token = role_tokens[Role.AI_DEVELOPER]
    model_id = _upload(client, token, failing_hook_package())
    reply = client.post(f"/api/v1/models/{model_id}/deploy", json={}, headers=bearer(token))
    view = _final(client, token, model_id, reply.get_json()["generation"], timeout=300)
    assert view["status"] == "failed", view
    assert "the hook exploded at load" in "\n".join(view["logs"]), view["logs"]
    assert view["replicas"] == []
    # From the start command to the failure report (the virtualenv build before it is not counted).
    starting = min(datetime.fromisoformat(e["at"]) for e in view["events"] if e["stage"] == "starting")
    failed = max(datetime.fromisoformat(e["at"]) for e in view["events"] if e["stage"] == "failed")
    assert (failed - starting).total_seconds() < 30


def test_bad_deploy_requests_are_refused(client: FlaskClient, role_tokens: dict[Role, str]) -> None:
    token = role_tokens[Role.AI_DEVELOPER]
    headers = bearer(token)
    assert client.post("/api/v1/models/nope/deploy", json={}, headers=headers).status_code == 404
    model_id = _upload(client, token, zip_package(IRIS_PACKAGE))
    for body in ({"replicas": -1}, {"replicas": 99}, {"replicas": "2"}, {"node_labels": ["novalue"]}):
        reply = client.post(f"/api/v1/models/{model_id}/deploy", json=body, headers=headers)
        assert reply.status_code == 400, body
    assert client.post(f"/api/v1/models/{model_id}/undeploy", headers=headers).status_code == 409
    assert (
        client.post(f"/api/v1/models/{model_id}/scale", json={"replicas": 2}, headers=headers).status_code
        == 409
    )
    assert client.get(f"/api/v1/models/{model_id}/deployment", headers=headers).status_code == 404
    end_user = bearer(role_tokens[Role.END_USER])
    assert client.post(f"/api/v1/models/{model_id}/deploy", json={}, headers=end_user).status_code == 403


def test_the_cli_deploys_predicts_and_undeploys(
    platform: HttpServer,
    client: FlaskClient,
    role_tokens: dict[Role, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = role_tokens[Role.AI_DEVELOPER]
    model_id = _upload(client, token, zip_package(IRIS_PACKAGE))
    monkeypatch.setenv("CANOPY_API_URL", f"http://127.0.0.1:{platform.port}")
    monkeypatch.setenv("CANOPY_TOKEN", token)
    runner = CliRunner()
    deployed = runner.invoke(cli, ["model", "deploy", model_id, "--replicas", "1"])
    assert deployed.exit_code == 0, deployed.output
    assert "building" in deployed.output and "ready" in deployed.output
    predicted = runner.invoke(cli, ["model", "predict", model_id, "--json", json.dumps(IRIS_INPUT)])
    assert predicted.exit_code == 0 and "setosa" in predicted.output, predicted.output
    shown = runner.invoke(cli, ["model", "status", model_id])
    assert "node=node-a" in shown.output and "ready" in shown.output
    undeployed = runner.invoke(cli, ["model", "undeploy", model_id])
    assert undeployed.exit_code == 0 and "stopped" in undeployed.output, undeployed.output
    broken = _upload(client, token, failing_hook_package())
    failed = runner.invoke(cli, ["model", "deploy", broken])
    assert failed.exit_code == 1 and "the hook exploded at load" in failed.output, failed.output
