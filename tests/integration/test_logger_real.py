"""The logger on real Kafka, PostgreSQL and Azurite: lines go through Kafka to PostgreSQL and the archive."""

from __future__ import annotations

import gzip
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from bootstrap.infra.kafka import KafkaCredentials
from canopy.bus.typed import publish
from canopy.config import load_config
from canopy.contracts.system import LogRecord
from canopy.logs.archive import archive_key
from canopy.logs.handler import LogShipping
from canopy.logs.query import LogQuery, find_lines, recent_dead_letters
from canopy.runtime.backends import Backends, open_backends
from services.logger.service import logger_components
from tests.conftest import kafka_environment

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.azurite]


@pytest.fixture()
def platform(
    canopy_home: Path,
    kafka_url: str,
    kafka_logins: KafkaCredentials,
    postgres_url: str,
    azurite_connection_string: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Backends]:
    """Backends on Kafka, a fresh PostgreSQL schema and a fresh Azurite container."""
    kafka_environment(monkeypatch, kafka_url, kafka_logins)
    server = make_url(postgres_url)
    run = uuid.uuid4().hex[:12]
    admin = create_engine(server)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA test_{run}")
    url = server.update_query_dict({"options": f"-csearch_path=test_{run}"})
    monkeypatch.setenv("CANOPY_DB_URL", url.render_as_string(hide_password=False))
    monkeypatch.setenv("CANOPY_BLOB_URL", f"azure://logs-{run}")
    monkeypatch.setenv("CANOPY_AZURE_CONNECTION_STRING", azurite_connection_string)
    backends = open_backends(load_config())
    try:
        yield backends
    finally:
        backends.close()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA test_{run} CASCADE")
        admin.dispose()


def _wait_for(found: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not found():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_lines_flow_through_kafka_into_postgresql_and_are_archived_to_azurite(platform: Backends) -> None:
    run = uuid.uuid4().hex[:8]
    ingest, maintenance = logger_components(platform, group=f"test-logger-{run}", from_beginning=False)
    ingest.start()
    shipping = LogShipping(platform.bus, f"logger-test-{run}")
    shipping.start()
    model = f"m-{run}"
    try:

        def stored(query: LogQuery) -> list[str]:
            with platform.store.session() as session:
                return [line.message for line in find_lines(session, query, None)]

        def probe() -> bool:  # until the new group is assigned its partitions, records are not its
            publish(
                platform.bus,
                LogRecord(
                    at=datetime.now(UTC),
                    level="INFO",
                    source="model",
                    model_id=f"probe-{run}",
                    message="probe",
                ),
            )
            platform.bus.flush()
            return bool(stored(LogQuery(model=f"probe-{run}")))

        _wait_for(probe)
        yesterday = datetime.now(UTC).replace(hour=12, minute=0) - timedelta(days=1)
        for n in range(50):
            line = LogRecord(at=yesterday, level="INFO", source="model", model_id=model, message=f"line {n}")
            publish(platform.bus, line, key=model)
        logging.getLogger("services.logger.test").warning("service line of %s", run)
        platform.bus.publish("canopy.logs", f"garbage {run}".encode())
        platform.bus.flush()
        _wait_for(lambda: len(stored(LogQuery(model=model, limit=1000))) == 50)
        assert stored(LogQuery(model=model, limit=1000)) == [f"line {n}" for n in range(50)]
        _wait_for(lambda: stored(LogQuery(grep=f"service line of {run}")) != [])

        def dead_lettered() -> bool:
            with platform.store.session() as session:
                return any(run in str(d["payload_preview"]) for d in recent_dead_letters(session, 500))

        _wait_for(dead_lettered)
        maintenance.step()
        archived = gzip.decompress(platform.blob.get(archive_key(yesterday.date())))
        mine = [json.loads(text) for text in archived.decode().splitlines()]
        assert [record["message"] for record in mine if record["model_id"] == model] == [
            f"line {n}" for n in range(50)
        ]
    finally:
        shipping.stop()
        ingest.stop()
