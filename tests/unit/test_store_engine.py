"""Store URL handling, UTC timestamps and unique-violation detection, without a database."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import IntegrityError

from canopy.errors import ConfigError, Conflict, NoSuchDriver
from canopy.store.engine import conflict_on_duplicate, describe_location, normalise_url
from canopy.store.models import UTCDateTime


@pytest.mark.parametrize(
    "url",
    ["postgresql://u:p@db:6543/canopy", "postgresql+psycopg://u:p@db:6543/canopy"],
)
def test_postgres_urls_use_psycopg3(url: str) -> None:
    parsed = normalise_url(url)
    assert parsed.drivername == "postgresql+psycopg"
    assert (parsed.host, parsed.port, parsed.database, parsed.password) == ("db", 6543, "canopy", "p")
    assert describe_location(parsed) == "PostgreSQL at db:6543"


def test_sqlite_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert normalise_url("sqlite:///state/canopy.db").database == str(tmp_path / "state" / "canopy.db")
    with pytest.raises(ConfigError, match="SQLite file"):
        normalise_url("sqlite://")


@pytest.mark.parametrize(("url", "hint"), [("postgres://h/db", "postgresql"), ("mysql://h/db", "Known")])
def test_unknown_schemes_name_the_drivers(url: str, hint: str) -> None:
    with pytest.raises(NoSuchDriver, match=hint):
        normalise_url(url)


@pytest.mark.parametrize("url", ["sqlite://", "postgresql+psycopg://"])
def test_utc_datetime_round_trip(url: str) -> None:
    dialect = create_engine(url).dialect
    column = UTCDateTime()
    local = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-7)))
    stored = column.process_bind_param(local, dialect)
    assert stored is not None and stored.hour == 10
    assert (stored.tzinfo is None) == (dialect.name == "sqlite")
    loaded = column.process_result_value(stored, dialect)
    assert loaded == local and loaded is not None and loaded.tzinfo is UTC
    assert column.process_bind_param(None, dialect) is None
    with pytest.raises(ValueError, match="naive"):
        column.process_bind_param(datetime(2030, 1, 1), dialect)


def test_only_unique_violations_become_conflicts() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (a INTEGER UNIQUE, b INTEGER CHECK (b > 0))")
    db.execute("INSERT INTO t VALUES (1, 1)")

    def fail(sql: str) -> None:
        try:
            db.execute(sql)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(sql, None, exc) from exc

    with pytest.raises(Conflict, match="taken"), conflict_on_duplicate("taken"):
        fail("INSERT INTO t VALUES (1, 2)")
    with pytest.raises(IntegrityError), conflict_on_duplicate("taken"):
        fail("INSERT INTO t VALUES (2, -1)")
