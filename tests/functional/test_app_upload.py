"""App uploads through the REST API and `canopy app`: roles, ownership, and nothing left behind on refusal."""

from __future__ import annotations

import gc
import hashlib
import io
import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from werkzeug.test import TestResponse

from bootstrap.cli import cli
from canopy.apps import repository
from canopy.apps.records import AppInstance, AppRecord
from canopy.archive import zip_directory
from canopy.errors import Unavailable
from canopy.roles import Role
from canopy.runtime.backends import Backends
from services.gateway import accounts
from services.gateway.app import create_app
from services.gateway.server import HttpServer
from services.gateway.views.apps import WORKSPACES_DIR
from tests.fixtures.app_packages.corpus import (
    EXAMPLES,
    MODELS,
    bad_apps,
    canopy_files,
    good_canopy_package,
    good_legacy_package,
    legacy_files,
    register_references,
)
from tests.fixtures.model_packages.corpus import TEST_LIMITS, write_package, zip_bytes
from tests.functional.conftest import bearer

DEV_A = "user-app-developer"
DEV_B = "devb"
_HOUR = timedelta(hours=1)


@pytest.fixture(autouse=True)
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Archive limits small enough for the size cases of the corpus."""
    monkeypatch.setattr(repository, "UPLOAD_LIMITS", TEST_LIMITS)


@pytest.fixture()
def tokens(backends: Backends, issue_token: Callable[[Role], str]) -> dict[str, dict[str, str]]:
    """Headers of devA (owns the models the packages use), devB, an end user and the admin."""
    with backends.store.session() as session:
        accounts.create_user(session, DEV_B, Role.APP_DEVELOPER, "password-123")
        register_references(session, accounts.find_user(session, DEV_A).id)
    with backends.store.session() as session:
        dev_b = accounts.issue_token(session, accounts.find_user(session, DEV_B), _HOUR).secret
    return {
        "deva": bearer(issue_token(Role.APP_DEVELOPER)),
        "devb": bearer(dev_b),
        "eve": bearer(issue_token(Role.END_USER)),
        "admin": bearer(issue_token(Role.PLATFORM_ADMIN)),
    }


def _upload(client: FlaskClient, headers: dict[str, str], data: bytes) -> TestResponse:
    return client.post(
        "/api/v1/apps",
        data={"file": (io.BytesIO(data), "../../app.zip")},
        headers=headers,
        content_type="multipart/form-data",
    )


def _stored(backends: Backends) -> tuple[int, list[str], list[Path]]:
    """Rows in the apps table, app blobs, and files left in the upload workspaces."""
    with backends.store.session() as session:
        rows = session.scalar(select(func.count()).select_from(AppRecord)) or 0
    blobs = [info.key for info in backends.blob.list("apps/")]
    workspaces = backends.config.home / WORKSPACES_DIR
    leftovers = list(workspaces.rglob("*")) if workspaces.exists() else []
    return rows, blobs, leftovers


def test_every_bad_package_is_refused_naming_file_and_field_and_leaves_nothing(
    client: FlaskClient, backends: Backends, tokens: dict[str, dict[str, str]]
) -> None:
    for bad in bad_apps():
        response = _upload(client, tokens["deva"], bad.data)
        error = response.get_json()["error"]
        assert response.status_code == bad.status, (bad.name, error)
        assert bad.where in error["message"] and bad.reason in error["message"], (bad.name, error)
        if bad.field is not None:
            assert {"file": bad.file, "field": bad.field} in [
                {"file": p["file"], "field": p["field"]} for p in error["details"]["problems"]
            ], bad.name
        assert _stored(backends) == (0, [], []), bad.name


def test_an_upload_without_the_file_field_is_refused(
    client: FlaskClient, backends: Backends, tokens: dict[str, dict[str, str]]
) -> None:
    response = client.post("/api/v1/apps", data={"other": "x"}, headers=tokens["deva"])
    assert (
        response.status_code == 400
        and "multipart form field 'file'" in response.get_json()["error"]["message"]
    )
    assert _stored(backends) == (0, [], [])


def test_upload_list_show_with_roles(
    client: FlaskClient, backends: Backends, tokens: dict[str, dict[str, str]]
) -> None:
    assert _upload(client, tokens["eve"], good_canopy_package()).status_code == 403
    data = good_canopy_package()
    created = _upload(client, tokens["deva"], data)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["name"], body["version"], body["format"], body["owner"]) == (
        "room-climate",
        "1.0.0",
        "canopy",
        DEV_A,
    )
    assert body["sha256"] == hashlib.sha256(data).hexdigest() and body["size"] == len(data)
    assert backends.blob.get(f"apps/{body['id']}/package.zip") == data
    assert body["page"] == {"port": 8080} and body["entry"] == "climate:main"
    assert [(d["name"], d["kind"], d["exclusive"]) for d in body["devices"]] == [
        ("room_temp", "sensor", False),
        ("fan", "controller", True),
    ]
    assert body["models"][0]["model_id"] == MODELS["fan-health"][0]

    for who in ("eve", "devb", "admin"):
        listed = client.get("/api/v1/apps", headers=tokens[who]).get_json()["apps"]
        assert [app["id"] for app in listed] == [body["id"]] and "manifest" not in listed[0]
        shown = client.get(f"/api/v1/apps/{body['id']}", headers=tokens[who]).get_json()
        assert shown["devices"] == body["devices"] and shown["manifest"]["models"] == body["models"]
    missing = client.get("/api/v1/apps/a0000", headers=tokens["eve"])
    assert missing.status_code == 404 and "canopy app list" in missing.get_json()["error"]["message"]


def test_a_legacy_package_uploads_and_its_models_resolve_for_its_uploader_only(
    client: FlaskClient, tokens: dict[str, dict[str, str]]
) -> None:
    created = _upload(client, tokens["deva"], good_legacy_package())
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["format"] == "legacy" and body["database"] and body["page"] == {"port": 6015}
    assert [d["name"] for d in body["devices"]] == ["sensor_0", "sensor_1", "controller_0"]
    refused = _upload(client, tokens["devb"], good_legacy_package()).get_json()["error"]
    assert "config/models.json: instances.0.model_id: no model 'weather-detection'" in refused["message"]
    by_owner = legacy_files(
        {"config/models.json": {"count": 1, "instances": [{"model_id": f"{DEV_A}/weather-detection"}]}}
    )
    assert _upload(client, tokens["devb"], zip_bytes(by_owner)).status_code == 201


def test_a_package_bigger_than_a_json_body_is_accepted(
    client: FlaskClient, tokens: dict[str, dict[str, str]]
) -> None:
    files = {**canopy_files(), "static/photo.bin": os.urandom(256 * 1024)}
    response = _upload(client, tokens["deva"], zip_bytes(files))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["size"] > 256 * 1024


def test_the_same_name_and_version_twice_is_a_conflict_that_stores_nothing(
    client: FlaskClient, backends: Backends, tokens: dict[str, dict[str, str]]
) -> None:
    assert _upload(client, tokens["deva"], good_canopy_package()).status_code == 201
    again = _upload(client, tokens["deva"], good_canopy_package())
    assert again.status_code == 409 and "already exists" in again.get_json()["error"]["message"]
    rows, blobs, leftovers = _stored(backends)
    assert (rows, len(blobs), leftovers) == (1, 1, [])


def test_a_failed_insert_removes_the_stored_package(
    client: FlaskClient, backends: Backends, tokens: dict[str, dict[str, str]]
) -> None:
    def refuse_insert(*_: Any) -> None:
        raise Unavailable("the database went away")

    event.listen(AppRecord, "before_insert", refuse_insert)
    try:
        response = _upload(client, tokens["deva"], good_canopy_package())
    finally:
        event.remove(AppRecord, "before_insert", refuse_insert)
    assert response.status_code == 503
    assert _stored(backends) == (0, [], [])


def test_owner_or_admin_remove_others_may_not_and_instances_block_it(
    client: FlaskClient, backends: Backends, tokens: dict[str, dict[str, str]]
) -> None:
    mine = _upload(client, tokens["deva"], good_canopy_package()).get_json()["id"]
    assert client.delete(f"/api/v1/apps/{mine}", headers=tokens["eve"]).status_code == 403
    refused = client.delete(f"/api/v1/apps/{mine}", headers=tokens["devb"])
    assert refused.status_code == 403 and f"belongs to {DEV_A}" in refused.get_json()["error"]["message"]
    with backends.store.session() as session:
        session.add(AppInstance(id="i00000000000001", app_id=mine, location="hyd/lab", token_hash="0" * 64))
    busy = client.delete(f"/api/v1/apps/{mine}", headers=tokens["deva"])
    assert busy.status_code == 409 and "i00000000000001" in busy.get_json()["error"]["message"]
    assert _stored(backends)[0] == 1
    with backends.store.session() as session:
        session.delete(session.get(AppInstance, "i00000000000001"))
    assert client.delete(f"/api/v1/apps/{mine}", headers=tokens["deva"]).status_code == 204
    theirs = _upload(client, tokens["deva"], good_legacy_package()).get_json()["id"]
    assert client.delete(f"/api/v1/apps/{theirs}", headers=tokens["admin"]).status_code == 204
    assert client.get(f"/api/v1/apps/{mine}", headers=tokens["admin"]).status_code == 404
    assert _stored(backends) == (0, [], [])


@pytest.mark.parametrize("example", ["fan-monitor", "legacy-weather"])
def test_the_example_packages_upload_cleanly(
    client: FlaskClient, tokens: dict[str, dict[str, str]], tmp_path: Path, example: str
) -> None:
    zip_directory(EXAMPLES / example, tmp_path / "app.zip")
    created = _upload(client, tokens["deva"], (tmp_path / "app.zip").read_bytes())
    assert created.status_code == 201, created.get_json()
    model_ids = [model["model_id"] for model in created.get_json()["models"]]
    assert model_ids == [MODELS["fan-anomaly" if example == "fan-monitor" else "weather-detection"][0]]


@pytest.fixture()
def live_api(backends: Backends) -> Iterator[str]:
    """The gateway served over HTTP on a free port."""
    server = HttpServer(create_app(backends), "127.0.0.1", 0, threads=2)
    server.start()
    yield server.url
    gc.collect()  # a CLI error's traceback keeps its HTTP connection open until collected
    server.stop()


def test_cli_uploads_lists_shows_and_removes(
    live_api: str, tokens: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    runner = CliRunner()
    env = {"CANOPY_API_URL": live_api, "CANOPY_TOKEN": tokens["deva"]["Authorization"].split()[1]}
    uploaded = runner.invoke(cli, ["app", "upload", str(EXAMPLES / "fan-monitor")], env=env)
    assert uploaded.exit_code == 0, uploaded.output
    app_id = uploaded.stdout.strip().splitlines()[-1]
    assert (
        app_id.startswith("a")
        and "Uploaded fan-monitor 1.0.0 (canopy format; fan (TURBINE_FAN)" in uploaded.stdout
    )

    listed = runner.invoke(cli, ["app", "list"], env=env)
    assert app_id in listed.stdout and "fan:TURBINE_FAN, buzzer:BUZZER" in listed.stdout
    shown = runner.invoke(cli, ["app", "show", app_id], env=env)
    assert f"id: {app_id}" in shown.stdout and "page: 8080" in shown.stdout
    assert (
        "buzzer  BUZZER       controller  True" in shown.stdout and MODELS["fan-anomaly"][0] in shown.stdout
    )

    removed = runner.invoke(cli, ["app", "remove", app_id], env=env)
    assert removed.exit_code == 0 and f"Removed app {app_id}." in removed.stdout
    gone = runner.invoke(cli, ["app", "show", app_id], env=env)
    assert gone.exit_code == 1 and "no app" in gone.output


def test_cli_reports_a_refused_upload_with_file_and_field(
    live_api: str, tokens: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    env = {"CANOPY_API_URL": live_api, "CANOPY_TOKEN": tokens["deva"]["Authorization"].split()[1]}
    sensors = {"count": 1, "instances": [{"index": 1, "type": "TEMPX"}]}
    folder = write_package(tmp_path / "weather", legacy_files({"config/sensors.json": sensors}))
    refused = CliRunner().invoke(cli, ["app", "upload", str(folder)], env=env)
    assert refused.exit_code == 1
    assert "config/sensors.json: instances.0.type: unknown device type 'TEMPX'" in refused.output
