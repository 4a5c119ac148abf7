"""The pure decisions about an instance's database: paths, handler, URIs, FerretDB's command line, ping."""

from __future__ import annotations

import time
from pathlib import Path

import bson
import pytest
from pymongo.uri_parser import parse_uri

from bootstrap.infra.base import ComponentStatus, InfraError, InfraPaths
from bootstrap.infra.ferretdb import FerretDB
from bootstrap.infra.golang import Progress
from bootstrap.infra.manager import NAMES, format_status, resolve
from canopy.apps.database_plan import (
    ferretdb_argv,
    ferretdb_binary,
    ferretdb_env,
    plan_database,
    socket_uri,
    workload_environment,
)
from canopy.apps.mongo_ping import OP_MSG, ping_message, top_level_fields
from canopy.errors import BadRequest

HOME = Path("/srv/canopy")
PG = "postgresql+psycopg://canopy:s3cret@127.0.0.1:5432/canopy?sslmode=disable"


def test_sqlite_store_gives_the_sqlite_handler_under_canopy_home() -> None:
    plan = plan_database(HOME, "i0123456789abcd", "sqlite:////srv/canopy/canopy.db")
    assert plan.handler == "sqlite" and plan.pg_database == "" and plan.backend_url == ""
    assert plan.root == HOME / "databases" / "i0123456789abcd"
    assert plan.socket_path == plan.root / "socket" / "mongodb.sock"
    assert plan.data_dir == plan.root / "data" and plan.log_file == plan.root / "ferretdb.log"


def test_postgresql_store_gives_a_database_of_the_instance_on_the_same_server() -> None:
    plan = plan_database(HOME, "i0123456789abcd", PG)
    assert plan.handler == "postgresql"
    assert plan.pg_database == "canopy_app_i0123456789abcd"
    assert plan.backend_url == (
        "postgres://canopy:s3cret@127.0.0.1:5432/canopy_app_i0123456789abcd?sslmode=disable&pool_max_conns=4"
    )
    assert plan.admin_url == "postgres://canopy:s3cret@127.0.0.1:5432/canopy?sslmode=disable"
    assert "s3cret" not in repr(plan)


def test_the_workload_gets_the_socket_uri_and_its_database_name_only() -> None:
    env = workload_environment("i0123456789abcd")
    assert env == {
        "CANOPY_MONGODB_URI": "mongodb://%2Fopt%2Fdatabase%2Fmongodb.sock/",
        "CANOPY_MONGODB_DATABASE": "i0123456789abcd",
    }
    parsed = parse_uri(env["CANOPY_MONGODB_URI"])
    assert parsed["nodelist"] == [("/opt/database/mongodb.sock", None)]
    assert parsed["username"] is None and parsed["password"] is None
    assert plan_database(HOME, "i0123456789abcd", PG).workload_env == env
    assert socket_uri("/a b/x.sock") == "mongodb://%2Fa%20b%2Fx.sock/"


@pytest.mark.parametrize("bad", ["", "../etc", "I0123", "a.b", "a/b", "a-b", "_x", "x" * 49, "i 1"])
def test_unsafe_instance_ids_are_refused(bad: str) -> None:
    with pytest.raises(BadRequest, match="cannot name a database"):
        plan_database(HOME, bad, PG)


def test_ferretdb_listens_on_the_socket_only_and_never_sees_the_password_in_argv() -> None:
    binary = ferretdb_binary(HOME)
    assert binary == HOME / "infra" / "ferretdb" / "bin" / "ferretdb"
    sqlite = plan_database(HOME, "i1", "sqlite:///x.db")
    argv = ferretdb_argv(binary, sqlite)
    assert argv[0] == str(binary)
    for flag in ("--handler=sqlite", "--listen-addr=", "--listen-unix=mongodb.sock", "--debug-addr=-"):
        assert flag in argv
    assert "--telemetry=disable" in argv and f"--sqlite-url=file:{sqlite.data_dir}/" in argv
    assert "FERRETDB_POSTGRESQL_URL" not in ferretdb_env(sqlite)
    postgres = plan_database(HOME, "i1", PG)
    argv = ferretdb_argv(binary, postgres)
    assert "--handler=postgresql" in argv and not any("s3cret" in arg or "sqlite" in arg for arg in argv)
    env = ferretdb_env(postgres)
    assert env["FERRETDB_POSTGRESQL_URL"] == postgres.backend_url and env["DO_NOT_TRACK"] == "1"


def test_ping_message_is_an_op_msg_with_the_ping_command() -> None:
    message = ping_message(7)
    assert int.from_bytes(message[:4], "little") == len(message)
    assert int.from_bytes(message[12:16], "little") == OP_MSG
    assert bson.decode(message[21:]) == {"ping": 1, "$db": "admin"}


def test_top_level_fields_read_numbers_strings_and_skip_the_rest() -> None:
    document = bson.encode(
        {"nested": {"a": [1, 2]}, "blob": b"\x00\x01", "ok": 0.0, "errmsg": "down", "code": 1, "n": 2**40}
    )
    fields = top_level_fields(document)
    assert fields == {"ok": 0.0, "errmsg": "down", "code": 1, "n": 2**40}
    assert top_level_fields(bson.encode({"ok": 1.0, "flag": True})) == {"ok": 1.0, "flag": True}


def test_ferretdb_is_an_infra_component_built_not_started() -> None:
    assert NAMES[-1] == "ferretdb" and resolve(["FerretDB", "postgres"]) == ["postgres", "ferretdb"]
    lines = format_status(
        [
            ComponentStatus("ferretdb", True, "/h/infra/ferretdb/bin/ferretdb", True, serves=False),
            ComponentStatus("ferretdb", False, "/h/infra/ferretdb/bin/ferretdb", False, serves=False),
        ]
    ).splitlines()
    assert lines[0].split() == ["ferretdb", "up", "/h/infra/ferretdb/bin/ferretdb", "(built", "by", "canopy)"]
    assert lines[1].endswith("(not built: canopy infra up ferretdb)")


def test_build_progress_counts_modules_and_packages_and_reports_while_go_is_silent(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bootstrap.infra.golang.PROGRESS_SECONDS", 0.05)
    with Progress("ferretdb") as progress:
        for line in ["go: downloading a v1", "go: downloading b v2", "github.com/x/y", "# note", "net/http"]:
            progress(line)
        assert (progress.modules, progress.packages) == (2, 2)
        time.sleep(0.3)
    assert "2 modules fetched, 2 packages compiled" in capsys.readouterr().out


def test_building_without_go_or_with_a_failing_go_names_the_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    component = FerretDB(InfraPaths(tmp_path / "infra"))
    monkeypatch.setattr("bootstrap.infra.ferretdb.find_go", lambda: None)
    with pytest.raises(InfraError, match=r"Go is needed to build FerretDB v1\.24\.2 and `go` is not on PATH"):
        component.prepare()
    monkeypatch.setattr("bootstrap.infra.ferretdb.find_go", lambda: "/bin/false")
    failing = r"`/bin/false mod download -json github\.com/FerretDB/FerretDB@v1\.24\.2` failed"
    with pytest.raises(InfraError, match=failing):
        component.prepare()
    assert not component.answers() and not component.binary.exists()
