"""GET /api/v1/logs, /deadletters and `canopy logs|deadletter`: each user reads only their own workloads."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from bootstrap.cli import cli
from canopy.bus import Record
from canopy.bus.typed import dead_letter_for
from canopy.contracts.system import LogRecord
from canopy.logs.store import dead_letter_row, log_row, store_batch
from canopy.roles import Role
from canopy.runtime.backends import Backends
from services.gateway import accounts
from services.gateway.app import create_app
from services.gateway.server import HttpServer
from tests.fixtures.model_packages.corpus import good_legacy_package, good_modern_package
from tests.functional.conftest import bearer

Headers = dict[str, str]
JUNK = Record("canopy.deploy", 0, 7, None, b"junk", 0)


def _token(backends: Backends, name: str, role: Role) -> str:
    with backends.store.session() as session:
        user = accounts.create_user(session, name, role, "password-123")
        return accounts.issue_token(session, user, timedelta(hours=1)).secret


def _model(client: FlaskClient, headers: Headers, data: bytes) -> str:
    answer = client.post(
        "/api/v1/models",
        data={"file": (io.BytesIO(data), "model.zip")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert answer.status_code == 201, answer.get_json()
    return str(answer.get_json()["id"])


@pytest.fixture()
def world(client: FlaskClient, backends: Backends) -> dict[str, str]:
    """Developers A and B with a model each, an admin, an end user, and lines of every source stored."""
    tokens = {
        "a": _token(backends, "dev-a", Role.AI_DEVELOPER),
        "b": _token(backends, "dev-b", Role.AI_DEVELOPER),
        "admin": _token(backends, "root-2", Role.PLATFORM_ADMIN),
        "end": _token(backends, "end-1", Role.END_USER),
    }
    model_a = _model(client, bearer(tokens["a"]), good_modern_package())
    model_b = _model(client, bearer(tokens["b"]), good_legacy_package())
    now = datetime.now(UTC)

    def line(message: str, level: str = "INFO", **fields: str) -> LogRecord:
        return LogRecord(at=now, level=level, message=message, node="n1", **fields)  # type: ignore[arg-type]

    store_batch(
        backends.store,
        [
            log_row(line("a says hi", source="model", model_id=model_a)),
            log_row(line("a failed 50%_done", "ERROR", source="model", model_id=model_a)),
            log_row(line("b says hi", source="model", model_id=model_b)),
            log_row(line("gateway started", source="service", service="gateway")),
        ],
        [
            dead_letter_row(
                dead_letter_for(Record("canopy.deploy", 0, 7, None, b"junk", 0), "deployer", "bad"), now
            )
        ],
    )
    return {**tokens, "model_a": model_a, "model_b": model_b}


def _messages(client: FlaskClient, token: str, query: str = "") -> list[str]:
    answer = client.get(f"/api/v1/logs{query}", headers=bearer(token))
    assert answer.status_code == 200, answer.get_json()
    return [record["message"] for record in answer.get_json()["records"]]


def test_each_user_reads_only_their_own_models_lines(client: FlaskClient, world: dict[str, str]) -> None:
    assert _messages(client, world["a"]) == ["a says hi", "a failed 50%_done"]
    assert _messages(client, world["b"]) == ["b says hi"]
    assert _messages(client, world["a"], f"?model={world['model_a']}&level=error") == ["a failed 50%_done"]
    for query in (f"?model={world['model_a']}", "?service=gateway", "?node=n1"):
        refused = client.get(f"/api/v1/logs{query}", headers=bearer(world["b"]))
        assert refused.status_code == 403, query
    assert client.get("/api/v1/logs", headers=bearer(world["end"])).status_code == 403
    assert client.get("/api/v1/logs").status_code == 401


def test_platform_admin_reads_every_line_with_filters(client: FlaskClient, world: dict[str, str]) -> None:
    admin = world["admin"]
    assert len(_messages(client, admin)) == 4
    assert _messages(client, admin, "?service=gateway") == ["gateway started"]
    assert _messages(client, admin, "?grep=50%25_") == ["a failed 50%_done"]
    assert _messages(client, admin, "?grep=HI") == ["a says hi", "b says hi"]
    first = client.get("/api/v1/logs?limit=1", headers=bearer(admin)).get_json()
    assert [r["message"] for r in first["records"]] == ["gateway started"]
    after = client.get("/api/v1/logs?after=0&limit=2", headers=bearer(admin)).get_json()
    assert [r["message"] for r in after["records"]] == ["a says hi", "a failed 50%_done"]
    rest = _messages(client, admin, f"?after={after['last_id']}")
    assert rest == ["b says hi", "gateway started"]
    assert client.get("/api/v1/logs?level=LOUD", headers=bearer(admin)).status_code == 400


def test_dead_letters_are_listed_for_platform_admin_only(client: FlaskClient, world: dict[str, str]) -> None:
    letters = client.get("/api/v1/deadletters", headers=bearer(world["admin"])).get_json()["dead_letters"]
    assert [(d["source_topic"], d["group"], d["reason"], d["payload_preview"]) for d in letters] == [
        ("canopy.deploy", "deployer", "bad", "junk")
    ]
    assert client.get("/api/v1/deadletters", headers=bearer(world["a"])).status_code == 403


def test_the_cli_reads_logs_and_dead_letters(backends: Backends, world: dict[str, str]) -> None:
    server = HttpServer(create_app(backends), "127.0.0.1", 0, threads=2)
    server.start()
    try:
        runner = CliRunner()

        def canopy(token: str, *args: str) -> tuple[int, str]:
            result = runner.invoke(cli, list(args), env={"CANOPY_API_URL": server.url, "CANOPY_TOKEN": token})
            return result.exit_code, result.output

        code, shown = canopy(world["b"], "logs")
        assert code == 0 and "b says hi" in shown and "a says" not in shown
        assert f"[model {world['model_b']}@n1]" in shown
        code, shown = canopy(world["b"], "logs", "--model", world["model_a"])
        assert code == 1 and "a says" not in shown and "belongs to dev-a" in shown
        code, shown = canopy(world["admin"], "logs", "--service", "gateway", "--since", "10m")
        assert code == 0 and "gateway started" in shown and "[service gateway@n1]" in shown
        code, shown = canopy(world["admin"], "deadletter", "list")
        assert code == 0 and "canopy.deploy" in shown and "deployer" in shown and "junk" in shown
        code, shown = canopy(world["a"], "deadletter", "list")
        assert code == 1
    finally:
        server.stop()
