"""The AI developer's portal pages: upload, list, deploy/scale/undeploy, try-it and replica charts."""

from __future__ import annotations

import html
import io
import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, select
from werkzeug.test import TestResponse

from canopy.contracts import topics
from canopy.contracts.base import decode
from canopy.deployments.records import request_generation
from canopy.deployments.tables import Replica
from canopy.models import ModelRecord, repository
from canopy.models.records import new_model_id
from canopy.roles import Role
from canopy.runtime.backends import Backends
from services.gateway import accounts
from tests.deploy_helpers import IRIS_INPUT, IRIS_PACKAGE, zip_package
from tests.fixtures.model_packages.corpus import MODERN_MANIFEST, TEST_LIMITS, bad_packages
from tests.functional.conftest import bearer
from tests.functional.portal.conftest import PORTAL_PASSWORD, user_name
from tests.functional.test_model_upload import _stored
from tests.model_servers import running_server
from tests.portal_forms import PortalBrowser

Browser = Callable[[Role], PortalBrowser]


def text(response: TestResponse) -> str:
    """The page's text with entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def upload(browser: PortalBrowser, package: bytes, name: str = "package.zip") -> TestResponse:
    """Post the upload form with a package, as the browser's file input would."""
    browser.get("/portal/models/upload")
    return browser.post(
        "/portal/models/upload",
        {"file": (io.BytesIO(package), name)},
        content_type="multipart/form-data",
    )


def uploaded(browser: PortalBrowser, package: bytes | None = None) -> str:
    """Upload a package (the iris example by default); the new model's id."""
    response = upload(browser, package or zip_package(IRIS_PACKAGE))
    assert response.status_code == 303, text(response)
    found = re.search(r"/portal/models/(m[0-9a-f]+)\?done=uploaded$", response.headers["Location"])
    assert found, response.headers["Location"]
    return found.group(1)


def field_error(page: str, name: str) -> str:
    """The error text shown next to the field `name` ('' when none)."""
    found = re.search(
        rf'<(?:p|ul) class="field-error" id="{re.escape(name)}-error"[^>]*>(.*?)</(?:p|ul)>', page, re.S
    )
    return re.sub(r"<[^>]+>", " ", found.group(1)) if found else ""


@pytest.fixture()
def developer(signed_in: Browser) -> PortalBrowser:
    """The ai_developer's browser."""
    return signed_in(Role.AI_DEVELOPER)


@pytest.fixture()
def deploy_requests(backends: Backends) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """A function returning the deploy requests published since the last call."""
    consumer = backends.bus.consumer("portal-test-deploys", [topics.DEPLOY_REQUESTS], from_beginning=False)
    consumer.poll(0.1)

    def published() -> list[dict[str, Any]]:
        seen = []
        while (record := consumer.poll(0.3)) is not None:
            seen.append(decode(record.value).message.model_dump(mode="json"))
        return seen

    yield published
    consumer.close()


def test_a_good_upload_leads_to_the_model_page(developer: PortalBrowser) -> None:
    form = developer.get("/portal/models/upload")
    page = form.get_data(as_text=True)
    assert form.status_code == 200 and "data-progress" in page and "data-dropzone" in page
    assert 'type="file" name="file"' in page

    model_id = uploaded(developer)
    shown = developer.get(f"/portal/models/{model_id}?done=uploaded")
    page = text(shown)
    assert shown.status_code == 200 and "The model is uploaded" in page
    assert "iris" in page and "sklearn" in page and user_name(Role.AI_DEVELOPER) in page
    for field in IRIS_INPUT:
        assert f"<code>{field}</code>" in page
    assert "not deployed" in page


def test_bad_uploads_show_each_problem_next_to_the_file_field_and_store_nothing(
    developer: PortalBrowser, backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repository, "UPLOAD_LIMITS", TEST_LIMITS)
    for bad in bad_packages():
        response = upload(developer, bad.data)
        assert response.status_code == bad.status, bad.name
        page = text(response)
        assert bad.reason in page, bad.name
        assert field_error(page, "file"), bad.name
        assert 'type="file" name="file"' in page, bad.name
        assert _stored(backends) == (0, [], []), bad.name

    invalid = next(bad for bad in bad_packages() if bad.name == "schema_invalid")
    problems = field_error(text(upload(developer, invalid.data)), "file")
    assert "name:" in problems and "inputs:" in problems

    developer.get("/portal/models/upload")
    empty = developer.post("/portal/models/upload", {}, content_type="multipart/form-data")
    assert empty.status_code == 400 and "no file chosen" in field_error(text(empty), "file")
    assert _stored(backends) == (0, [], [])


def test_an_upload_over_the_body_limit_reshows_the_form_with_413(
    developer: PortalBrowser, backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repository, "UPLOAD_LIMITS", TEST_LIMITS)
    huge = bytes(TEST_LIMITS.max_total_bytes + 2 * 1024 * 1024)
    response = upload(developer, huge)
    assert response.status_code == 413
    assert "larger than this route accepts" in field_error(text(response), "file")
    assert _stored(backends) == (0, [], [])


def _add_models(backends: Backends, owner: str, names: list[str]) -> None:
    """Model rows for `owner` (the list pages read rows only)."""
    with backends.store.session() as session:
        owner_id = accounts.find_user(session, owner).id
        for name in names:
            manifest = json.dumps({**MODERN_MANIFEST, "name": name, "legacy": False})
            session.add(
                ModelRecord(
                    id=new_model_id(),
                    name=name,
                    version="1.0.0",
                    framework="sklearn",
                    manifest=manifest,
                    owner_id=owner_id,
                    blob_key=f"models/{name}/package.zip",
                    sha256="0" * 64,
                    size=1,
                )
            )


def _names(response: TestResponse) -> list[str]:
    return re.findall(r'<a href="/portal/models/m[0-9a-f]+">([^<]+)</a>', response.get_data(as_text=True))


def test_the_list_pages_and_filters_with_sql_and_shows_only_the_callers_models(
    developer: PortalBrowser, signed_in: Browser, backends: Backends
) -> None:
    _add_models(backends, user_name(Role.AI_DEVELOPER), [f"model-{n:03}" for n in range(120)])
    _add_models(backends, user_name(Role.PLATFORM_ADMIN), ["someone-elses"])
    with backends.store.session() as session:  # model-001 deployed: one of its two replicas is ready
        deployed = session.scalars(select(ModelRecord.id).where(ModelRecord.name == "model-001")).one()
        generation = request_generation(session, deployed, 2, {})
        for number, state in enumerate(("ready", "starting")):
            endpoint = f"http://127.0.0.1:{9000 + number}"
            session.add(
                Replica(
                    workload_id=f"{deployed}-r{number}",
                    model_id=deployed,
                    generation=generation,
                    node_id="node-a",
                    endpoint=endpoint,
                    state=state,
                )
            )
    statements: list[str] = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(backends.store.engine, "before_cursor_execute", listen)
    try:
        first = developer.get("/portal/models")
    finally:
        event.remove(backends.store.engine, "before_cursor_execute", listen)
    assert first.status_code == 200
    assert _names(first) == [f"model-{n:03}" for n in range(50)]
    assert "120 in all · page 1 of 3" in text(first)
    assert any("LIMIT" in statement and "OFFSET" in statement for statement in statements)
    assert len(statements) <= 12, statements  # deployments of the 50 rows are read together, not one by one
    row = re.search(r"model-001</a></td>(.*?)</tr>", first.get_data(as_text=True), re.S)
    assert row and "requested" in row.group(1) and "1/2" in row.group(1)

    last = developer.get("/portal/models?page=3")
    assert _names(last) == [f"model-{n:03}" for n in range(100, 120)]
    assert 'rel="prev"' in last.get_data(as_text=True)

    filtered = developer.get("/portal/models?q=MODEL-11")
    assert _names(filtered) == [f"model-{n:03}" for n in range(110, 120)]
    assert developer.get("/portal/models?q=someone").status_code == 200
    assert _names(developer.get("/portal/models?q=someone")) == []
    assert "No model's name contains" in text(developer.get("/portal/models?q=nothing-like-it"))

    admin = signed_in(Role.PLATFORM_ADMIN)
    assert "121 in all" in text(admin.get("/portal/models"))
    assert _names(admin.get("/portal/models?q=someone")) == ["someone-elses"]
    row = re.search(r"model-000</a></td>(.*?)</tr>", admin.get("/portal/models").get_data(as_text=True), re.S)
    assert row and "not deployed" in row.group(1) and "0/0" in row.group(1)


def test_deploy_scale_and_undeploy_forms_publish_what_the_rest_api_publishes(
    developer: PortalBrowser,
    client: FlaskClient,
    backends: Backends,
    deploy_requests: Callable[[], list[dict[str, Any]]],
) -> None:
    model_id = uploaded(developer)
    page = f"/portal/models/{model_id}"
    developer.get(page)
    not_deployed = developer.post(f"{page}/undeploy")
    assert not_deployed.status_code == 409 and "is not deployed" in field_error(
        text(not_deployed), "undeploy"
    )
    scale_first = developer.post(f"{page}/scale", {"replicas": "2"})
    assert scale_first.status_code == 409 and "deploy it first" in field_error(text(scale_first), "replicas")
    bad = developer.post(f"{page}/deploy", {"replicas": "lots"})
    assert bad.status_code == 400 and "integer from 0 to 32" in field_error(text(bad), "replicas")
    assert deploy_requests() == []

    with backends.store.session() as session:  # the same developer's API token, for the REST calls
        owner = accounts.find_user(session, user_name(Role.AI_DEVELOPER))
        rest = bearer(accounts.issue_token(session, owner, timedelta(hours=1)).secret)
    steps: list[tuple[str, dict[str, str], dict[str, Any]]] = [
        ("deploy", {"replicas": "2", "node_labels": "zone=lab, gpu=no"}, {"replicas": 2}),
        ("scale", {"replicas": "3"}, {"replicas": 3}),
        ("undeploy", {}, {}),
    ]
    for action, form, body in steps:
        developer.get(page)
        answer = developer.post(f"{page}/{action}", form)
        assert answer.status_code == 303 and answer.headers["Location"].endswith(f"{page}?done={action}")
        labels = {"node_labels": ["zone=lab", "gpu=no"]} if action == "deploy" else {}
        rest_call = client.post(f"/api/v1/models/{model_id}/{action}", json={**body, **labels}, headers=rest)
        assert rest_call.status_code == 202
        portal_sent, rest_sent = deploy_requests()
        assert rest_sent.pop("generation") == portal_sent.pop("generation") + 1
        assert portal_sent == rest_sent, action
    assert portal_sent["node_labels"] == {} and portal_sent["replicas"] == 0
    shown = text(developer.get(f"{page}?done=undeploy"))
    assert "Undeploy requested" in shown and "generation 6" in shown


def test_other_roles_and_other_developers_are_refused(
    developer: PortalBrowser, signed_in: Browser, backends: Backends
) -> None:
    model_id = uploaded(developer)
    for role in (Role.END_USER, Role.APP_DEVELOPER):
        other = signed_in(role)
        for path in ("/portal/models", "/portal/models/upload", f"/portal/models/{model_id}"):
            assert other.get(path).status_code == 403, (role, path)
        assert other.post(f"/portal/models/{model_id}/deploy", {"replicas": "1"}).status_code == 403

    with backends.store.session() as session:
        accounts.create_user(session, "second-developer", Role.AI_DEVELOPER, PORTAL_PASSWORD)
    stranger = PortalBrowser(developer.client.application.test_client())
    stranger.sign_in("second-developer", PORTAL_PASSWORD)
    refused = stranger.get(f"/portal/models/{model_id}")
    assert refused.status_code == 403 and "only its owner or a platform_admin" in text(refused)
    for action in ("deploy", "scale", "undeploy", "try"):
        assert stranger.post(f"/portal/models/{model_id}/{action}", {"replicas": "1"}).status_code == 403
    assert stranger.get(f"/portal/models/{model_id}/metrics.json").status_code == 403
    assert _names(stranger.get("/portal/models")) == []
    with backends.store.session() as session:
        assert session.scalar(select(ModelRecord.status).where(ModelRecord.id == model_id)) == "uploaded"

    admin = signed_in(Role.PLATFORM_ADMIN)
    assert admin.get(f"/portal/models/{model_id}").status_code == 200
    forged = developer.client.post(f"/portal/models/{model_id}/deploy", data={"replicas": "1"})
    assert forged.status_code == 403 and "security token" in text(forged)
    assert developer.get("/portal/models/mnope").status_code == 404


def test_the_try_it_form_follows_the_input_schema_and_says_when_no_replica_runs(
    developer: PortalBrowser,
) -> None:
    model_id = uploaded(developer)
    page = developer.get(f"/portal/models/{model_id}").get_data(as_text=True)
    for field in IRIS_INPUT:
        control = re.search(rf'<input id="input-{field}" name="{field}" type="number"[^>]*>', page, re.S)
        assert control, field
        assert 'step="any"' in control.group(0) and 'min="0.0"' in control.group(0)
        assert 'max="20.0"' in control.group(0)
    assert 'enctype="multipart/form-data"' not in page.split('id="try-form"')[1].split(">")[0]

    answer = developer.post(f"/portal/models/{model_id}/try", {**IRIS_INPUT, "sepal_length": "5.5"})
    shown = text(answer)
    assert answer.status_code == 503 and "has no ready replica" in shown
    assert 'value="5.5"' in shown  # what was typed stays in the form
    chart = developer.get(f"/portal/models/{model_id}/metrics.json?chart=latency").get_json()
    assert chart == {
        "times": [],
        "series": [
            {"label": "mean latency (ms)", "values": []},
            {"label": "p95 latency (ms)", "values": [], "color": "#c0662b"},
        ],
    }


def test_try_it_on_a_running_replica_shows_the_prediction_field_errors_and_figures(
    developer: PortalBrowser, backends: Backends
) -> None:
    model_id = uploaded(developer)
    with running_server(IRIS_PACKAGE) as server:
        with backends.store.session() as session:  # what the deployer records once a replica is ready
            generation = request_generation(session, model_id, 1, {})
            session.add(
                Replica(
                    workload_id=f"{model_id}-r1",
                    model_id=model_id,
                    generation=generation,
                    node_id="node-a",
                    endpoint=server.url,
                    state="ready",
                )
            )
        page = f"/portal/models/{model_id}"
        developer.get(page)
        answer = developer.post(f"{page}/try", {key: str(value) for key, value in IRIS_INPUT.items()})
        shown = text(answer)
        assert answer.status_code == 200, shown
        prediction = re.search(r'<pre id="prediction">(.*?)</pre>', shown, re.S)
        assert prediction and json.loads(prediction.group(1))["outputs"]["species"] == "setosa"

        wrong = developer.post(f"{page}/try", {**IRIS_INPUT, "sepal_length": "abc", "petal_width": "30"})
        shown = text(wrong)
        assert wrong.status_code == 400
        assert "must be a number" in field_error(shown, "sepal_length")
        assert "must be <= 20" in field_error(shown, "petal_width")
        assert field_error(shown, "sepal_width") == ""
        missing = text(developer.post(f"{page}/try", {"sepal_length": "1"}))
        assert "is required" in field_error(missing, "petal_length")

        first = developer.get(f"{page}/metrics.json?chart=throughput").get_json()
        time.sleep(1.1)
        developer.post(f"{page}/try", {key: str(value) for key, value in IRIS_INPUT.items()})
        second = developer.get(f"{page}/metrics.json?chart=throughput").get_json()
        assert len(second["times"]) >= len(first["times"]) + 1
        assert second["series"][0]["label"] == "requests/s" and second["series"][0]["values"][-1] > 0
        latency = developer.get(f"{page}/metrics.json?chart=latency").get_json()
        assert [series["label"] for series in latency["series"]] == ["mean latency (ms)", "p95 latency (ms)"]
        figures = text(developer.get(page))
        assert server.url in figures and "Requests served" in figures
        shown = text(developer.get(page))
        assert 'id="deployment" data-refresh="2"' in shown and "node-a" in shown
