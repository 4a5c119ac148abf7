"""Model uploads through the REST API and `canopy model`: good packages are stored, bad ones leave nothing."""

from __future__ import annotations

import gc
import hashlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from werkzeug.test import TestResponse

from bootstrap.cli import cli
from canopy.errors import Unavailable
from canopy.models import ModelRecord, repository
from canopy.roles import Role
from canopy.runtime.backends import Backends
from services.gateway.app import create_app
from services.gateway.server import HttpServer
from services.gateway.views.models import WORKSPACES_DIR
from tests.fixtures.model_packages.corpus import (
    MODERN_MANIFEST,
    TEST_LIMITS,
    bad_packages,
    good_legacy_package,
    good_modern_package,
    modern_files,
    write_package,
)
from tests.functional.conftest import bearer


@pytest.fixture(autouse=True)
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Archive limits small enough for the size cases of the corpus."""
    monkeypatch.setattr(repository, "UPLOAD_LIMITS", TEST_LIMITS)


@pytest.fixture()
def developer(issue_token: Callable[[Role], str]) -> dict[str, str]:
    """Headers of an ai_developer."""
    return bearer(issue_token(Role.AI_DEVELOPER))


def _upload(
    client: FlaskClient, headers: dict[str, str], data: bytes, name: str = "model.zip"
) -> TestResponse:
    return client.post(
        "/api/v1/models",
        data={"file": (io.BytesIO(data), name)},
        headers=headers,
        content_type="multipart/form-data",
    )


def _stored(backends: Backends) -> tuple[int, list[str], list[Path]]:
    """Rows in the models table, model blobs, and files left in the upload workspaces."""
    with backends.store.session() as session:
        rows = session.scalar(select(func.count()).select_from(ModelRecord)) or 0
    blobs = [info.key for info in backends.blob.list("models/")]
    workspaces = backends.config.home / WORKSPACES_DIR
    leftovers = list(workspaces.rglob("*")) if workspaces.exists() else []
    return rows, blobs, leftovers


def test_every_bad_upload_is_refused_with_its_reason_and_leaves_nothing(
    client: FlaskClient, backends: Backends, developer: dict[str, str]
) -> None:
    for bad in bad_packages():
        response = _upload(client, developer, bad.data, name="../../evil.zip")
        assert response.status_code == bad.status, (bad.name, response.get_json())
        assert bad.reason in response.get_json()["error"]["message"], bad.name
        assert _stored(backends) == (0, [], []), bad.name


def test_field_errors_come_back_as_details(client: FlaskClient, developer: dict[str, str]) -> None:
    bad = next(bad for bad in bad_packages() if bad.name == "schema_invalid")
    details = _upload(client, developer, bad.data).get_json()["error"]["details"]
    assert set(details) == {"name", "inputs"}


def test_an_upload_without_the_file_field_is_refused(
    client: FlaskClient, backends: Backends, developer: dict[str, str]
) -> None:
    response = client.post("/api/v1/models", data={"other": "x"}, headers=developer)
    assert response.status_code == 400
    assert "multipart form field 'file'" in response.get_json()["error"]["message"]
    assert _stored(backends) == (0, [], [])


def test_a_modern_package_uploads_lists_and_shows(
    client: FlaskClient, backends: Backends, developer: dict[str, str]
) -> None:
    data = good_modern_package()
    created = _upload(client, developer, data)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["name"], body["version"], body["framework"]) == ("fan-health", "1.0.0", "sklearn")
    assert body["owner"] == "user-ai-developer" and body["status"] == "uploaded" and not body["legacy"]
    assert body["deployment"] == "not deployed" and body["endpoints"] == []
    assert body["sha256"] == hashlib.sha256(data).hexdigest() and body["size"] == len(data)
    assert backends.blob.get(f"models/{body['id']}/package.zip") == data
    assert _stored(backends)[::2] == (1, [])

    listed = client.get("/api/v1/models", headers=developer).get_json()["models"]
    assert [model["id"] for model in listed] == [body["id"]] and "manifest" not in listed[0]
    shown = client.get(f"/api/v1/models/{body['id']}", headers=developer).get_json()
    assert shown["manifest"]["inputs"][0] == {
        "name": "rpm",
        "type": "float",
        "description": "",
        "shape": None,
        "items": None,
        "minimum": 0.0,
        "maximum": 5000.0,
    }
    assert shown["manifest"]["requirements"] == MODERN_MANIFEST["requirements"]


def test_a_legacy_package_uploads_with_its_pins_and_calling_convention(
    client: FlaskClient, developer: dict[str, str]
) -> None:
    body = _upload(client, developer, good_legacy_package()).get_json()
    assert (body["name"], body["framework"], body["legacy"]) == ("weather-detection", "sklearn", True)
    manifest: dict[str, Any] = body["manifest"]
    assert manifest["requirements"] == ["numpy==1.22.4", "scikit-learn==1.0.2", "pandas==1.4.2"]
    assert manifest["legacy_convention"]["input_kind"] == "json"


def test_the_same_name_and_version_twice_is_a_conflict_that_stores_nothing(
    client: FlaskClient, backends: Backends, developer: dict[str, str]
) -> None:
    assert _upload(client, developer, good_modern_package()).status_code == 201
    again = _upload(client, developer, good_modern_package())
    assert again.status_code == 409 and "already exists" in again.get_json()["error"]["message"]
    rows, blobs, leftovers = _stored(backends)
    assert (rows, len(blobs), leftovers) == (1, 1, [])


def test_a_failed_insert_removes_the_stored_package(
    client: FlaskClient, backends: Backends, developer: dict[str, str]
) -> None:
    def refuse_insert(*_: Any) -> None:
        raise Unavailable("the database went away")

    event.listen(ModelRecord, "before_insert", refuse_insert)
    try:
        response = _upload(client, developer, good_modern_package())
    finally:
        event.remove(ModelRecord, "before_insert", refuse_insert)
    assert response.status_code == 503
    assert _stored(backends) == (0, [], [])


def test_owners_and_admins_delete_others_may_not(
    client: FlaskClient, backends: Backends, issue_token: Callable[[Role], str], developer: dict[str, str]
) -> None:
    admin = bearer(issue_token(Role.PLATFORM_ADMIN))
    mine = _upload(client, admin, good_modern_package()).get_json()["id"]
    theirs = _upload(client, developer, good_legacy_package()).get_json()["id"]
    refused = client.delete(f"/api/v1/models/{mine}", headers=developer)
    assert refused.status_code == 403 and "owner" in refused.get_json()["error"]["message"]
    assert client.delete(f"/api/v1/models/{theirs}", headers=developer).status_code == 204
    assert client.delete(f"/api/v1/models/{mine}", headers=admin).status_code == 204
    assert client.get(f"/api/v1/models/{mine}", headers=admin).status_code == 404
    assert _stored(backends) == (0, [], [])


def test_any_role_reads_models_and_unknown_ids_are_404(
    client: FlaskClient, issue_token: Callable[[Role], str], developer: dict[str, str]
) -> None:
    model_id = _upload(client, developer, good_modern_package()).get_json()["id"]
    end_user = bearer(issue_token(Role.END_USER))
    assert client.get(f"/api/v1/models/{model_id}", headers=end_user).status_code == 200
    missing = client.get("/api/v1/models/m0000", headers=end_user)
    assert missing.status_code == 404 and "m0000" in missing.get_json()["error"]["message"]


@pytest.fixture()
def live_api(backends: Backends) -> Iterator[str]:
    """The gateway served over HTTP on a free port."""
    server = HttpServer(create_app(backends), "127.0.0.1", 0, threads=2)
    server.start()
    yield server.url
    gc.collect()  # a CLI error's traceback keeps its HTTP connection open until collected
    server.stop()


def test_cli_uploads_a_folder_prints_the_id_last_and_shows_it(
    live_api: str, issue_token: Callable[[Role], str], tmp_path: Path
) -> None:
    runner = CliRunner()
    env = {"CANOPY_API_URL": live_api, "CANOPY_TOKEN": issue_token(Role.AI_DEVELOPER)}
    folder = write_package(tmp_path / "fan-health", modern_files())
    uploaded = runner.invoke(cli, ["model", "upload", str(folder)], env=env)
    assert uploaded.exit_code == 0, uploaded.output
    model_id = uploaded.stdout.strip().splitlines()[-1]
    assert model_id.startswith("m") and "Uploaded fan-health 1.0.0 (sklearn)" in uploaded.stdout

    listed = runner.invoke(cli, ["model", "list"], env=env)
    assert model_id in listed.stdout and "fan-health" in listed.stdout
    shown = runner.invoke(cli, ["model", "show", model_id], env=env)
    assert f"id: {model_id}" in shown.stdout and "vibration" in shown.stdout

    (tmp_path / "legacy.zip").write_bytes(good_legacy_package())
    legacy = runner.invoke(cli, ["model", "upload", str(tmp_path / "legacy.zip")], env=env)
    assert "(sklearn, legacy format)" in legacy.stdout and legacy.stdout.strip().splitlines()[-1] != model_id


def test_cli_reports_a_refused_upload(
    live_api: str, issue_token: Callable[[Role], str], tmp_path: Path
) -> None:
    env = {"CANOPY_API_URL": live_api, "CANOPY_TOKEN": issue_token(Role.AI_DEVELOPER)}
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    refused = CliRunner().invoke(cli, ["model", "upload", str(tmp_path / "bad.zip")], env=env)
    assert refused.exit_code == 1 and "not a valid zip archive" in refused.output
