"""canopy.store against real databases: SQLite in a temporary directory and PostgreSQL."""

from __future__ import annotations

import importlib
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from canopy.errors import Conflict, NoSuchDriver, Unavailable
from canopy.store import ApiToken, Base, Store, User, conflict_on_duplicate, open_store

HEAD = "0012_logs"
TABLES = {
    "alembic_version",
    "users",
    "api_tokens",
    "models",
    "deployments",
    "deployment_events",
    "replicas",
    "nodes",
    "device_types",
    "locations",
    "devices",
    "telemetry_latest",
    "telemetry_refusals",
    "device_commands",
    "platform_markers",
    "node_keys",
    "apps",
    "app_instances",
    "device_holds",
    "bookings",
    "booking_windows",
    "log_records",
    "dead_letters",
}


def _version(store: Store) -> str | None:
    with store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _add_user(store: Store, name: str = "ada", **token_fields: object) -> int:
    with store.session() as session:
        user = User(name=name, role="admin", password_hash="argon2$hash")
        session.add(user)
        session.flush()
        expires = datetime.now(UTC) + timedelta(hours=1)
        session.add(
            ApiToken(
                id=f"tok-{name}",
                user_id=user.id,
                token_hash=f"{name:0>64}",
                expires_at=expires,
                **token_fields,
            )
        )
        return user.id


def test_migrate_from_empty(store_url: str) -> None:
    store = open_store(store_url)
    assert not set(inspect(store.engine).get_table_names())
    store.migrate()
    assert set(inspect(store.engine).get_table_names()) == TABLES
    assert _version(store) == HEAD
    store.close()


def test_migrate_twice_is_a_noop(store: Store) -> None:
    user_id = _add_user(store)
    store.migrate()
    assert _version(store) == HEAD
    with store.session() as session:
        assert session.get(User, user_id) is not None


TABLE_MODULES = (
    "canopy.models.records",
    "canopy.devices.models",
    "canopy.telemetry.models",
    "canopy.deployments.tables",
    "canopy.nodes.tables",
    "canopy.apps.records",
    "canopy.bookings.records",
    "canopy.logs.tables",
)


def test_models_match_the_migrations(store: Store) -> None:
    for module in TABLE_MODULES:
        importlib.import_module(module)
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_concurrent_migrate_from_several_processes_and_threads(store_url: str) -> None:
    start_at = time.time() + 3  # all migrators start together, after their imports
    script = (
        "import sys, time; from canopy.store import open_store; "
        "time.sleep(max(0, float(sys.argv[2]) - time.time())); open_store(sys.argv[1]).migrate()"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, store_url, str(start_at)], stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            time.sleep(max(0.0, start_at - time.time()))
            open_store(store_url).migrate()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        for proc in procs:
            _, stderr = proc.communicate(timeout=60)
            assert proc.returncode == 0, stderr
    finally:
        for proc in procs:
            proc.kill()  # only matters when the test failed; finished processes are left alone
    assert errors == [] and not any(thread.is_alive() for thread in threads)
    store = open_store(store_url)
    assert _version(store) == HEAD
    store.close()


def test_create_user_and_tokens(store: Store) -> None:
    user_id = _add_user(store)
    with store.session() as session:
        session.add(
            ApiToken(
                id="tok-2",
                user_id=user_id,
                token_hash="b" * 64,
                label="ci",
                expires_at=datetime.now(UTC) + timedelta(days=1),
            )
        )
    with store.session() as session:
        user = session.scalars(select(User).where(User.name == "ada")).one()
        assert user.role == "admin" and user.disabled is False
        assert user.created_at.tzinfo is UTC
        assert abs(datetime.now(UTC) - user.created_at) < timedelta(minutes=1)
        tokens = {token.id: token for token in user.tokens}
        assert set(tokens) == {"tok-ada", "tok-2"}
        assert tokens["tok-ada"].label == "" and tokens["tok-2"].label == "ci"
        assert tokens["tok-2"].revoked_at is None and tokens["tok-2"].last_used_at is None


def test_duplicates_raise_conflict_and_roll_back(store: Store) -> None:
    _add_user(store)
    with pytest.raises(Conflict, match="taken"), conflict_on_duplicate("name taken"):
        _add_user(store, "ada")
    with pytest.raises(Conflict), conflict_on_duplicate("hash taken"), store.session() as session:
        user = User(name="bob", role="viewer", password_hash="x")
        session.add(user)
        session.flush()
        session.add(
            ApiToken(
                id="tok-bob", user_id=user.id, token_hash="ada".rjust(64, "0"), expires_at=datetime.now(UTC)
            )
        )
    with store.session() as session:
        assert session.scalars(select(User.name)).all() == ["ada"]


def test_other_integrity_errors_are_not_conflicts(store: Store) -> None:
    with pytest.raises(IntegrityError), conflict_on_duplicate("dup"), store.session() as session:
        session.add(ApiToken(id="orphan", user_id=999, token_hash="c" * 64, expires_at=datetime.now(UTC)))


@pytest.mark.parametrize("how", ["orm", "sql"])
def test_deleting_a_user_cascades_to_tokens(store: Store, how: str) -> None:
    user_id = _add_user(store)
    _add_user(store, "bob")
    with store.session() as session:
        if how == "orm":
            session.delete(session.get(User, user_id))
        else:
            session.execute(delete(User).where(User.id == user_id))
    with store.session() as session:
        assert session.scalars(select(ApiToken.id)).all() == ["tok-bob"]


def test_aware_datetimes_round_trip_as_utc(store: Store) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    expires = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=india)
    user_id = _add_user(store)
    with store.session() as session:
        session.add(
            ApiToken(
                id="tok-x",
                user_id=user_id,
                token_hash="d" * 64,
                expires_at=expires,
                revoked_at=datetime(2030, 1, 1, tzinfo=UTC),
            )
        )
    with store.session() as session:
        token = session.get(ApiToken, "tok-x")
        assert token is not None
        assert token.expires_at == expires and token.expires_at.tzinfo is UTC
        assert token.expires_at.hour == 1 and token.expires_at.microsecond == 123456
        cutoff = expires - timedelta(seconds=1)
        assert session.scalars(select(ApiToken.id).where(ApiToken.expires_at > cutoff)).all() == ["tok-x"]
    with pytest.raises(StatementError, match="naive datetime"), store.session() as session:
        session.add(
            ApiToken(id="tok-n", user_id=user_id, token_hash="e" * 64, expires_at=datetime(2031, 1, 1))
        )


def test_session_rolls_back_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError), store.session() as session:
        session.add(User(name="ghost", role="viewer", password_hash="x"))
        session.flush()
        raise RuntimeError("boom")
    with store.session() as session:
        assert session.execute(text("SELECT COUNT(*) FROM users")).scalar_one() == 0


@pytest.mark.parametrize("host", ["127.0.0.1:1", "192.0.2.1:5432"])
def test_unreachable_postgres_is_unavailable_quickly(host: str) -> None:
    store = open_store(f"postgresql://canopy:canopy@{host}/canopy")
    started = time.monotonic()
    with pytest.raises(Unavailable, match=host.replace(".", r"\.")):
        store.migrate()
    assert time.monotonic() - started < 10
    with pytest.raises(Unavailable), store.session() as session:
        session.execute(text("SELECT 1"))


def test_typo_in_the_scheme_suggests_the_driver() -> None:
    with pytest.raises(NoSuchDriver, match=r"^No such store driver 'sqlit'\. Did you mean 'sqlite'\?$"):
        open_store("sqlit:///tmp/canopy.db")
