"""The logger on the embedded backends: lines and dead letters stored, retention, daily archives."""

from __future__ import annotations

import gzip
import json
import logging
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from canopy.bus.typed import publish
from canopy.contracts.system import LogRecord
from canopy.logs.archive import archive_finished_days, archive_key
from canopy.logs.handler import LogShipping
from canopy.logs.query import LogQuery, find_lines, recent_dead_letters
from canopy.logs.store import Retention, log_row, prune, store_batch
from canopy.logs.tables import LogLine
from canopy.runtime.backends import Backends
from canopy.workloads.logpump import LogPump
from services.logger.ingest import LogIngest
from services.node_agent.service import bus_output

DAY = datetime(2026, 11, 29, tzinfo=UTC)


def _line(at: datetime, message: str, **fields: str) -> LogRecord:
    return LogRecord(at=at, level="INFO", source="model", message=message, **fields)


def _wait_for(condition: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_service_line_and_a_dead_letter_reach_the_store(backends: Backends) -> None:
    ingest = LogIngest(backends.bus, backends.store, "logger-test")
    ingest.start()
    shipping = LogShipping(backends.bus, "deployer")
    shipping.start()
    try:
        logging.getLogger("services.deployer.flow").warning("replica r1 of m1 failed its probe")
        backends.bus.publish("canopy.logs", b"\x00 not a message")
        publish(backends.bus, _line(datetime.now(UTC), "hello from m1", model_id="m1", node="n1"))

        def stored() -> list[LogLine]:
            with backends.store.session() as session:
                return find_lines(session, LogQuery(), None)

        _wait_for(lambda: len(stored()) >= 2)
        lines = {line.message: line for line in stored()}
        service_line = lines["replica r1 of m1 failed its probe"]
        assert (service_line.source, service_line.service, service_line.level) == ("service", "deployer", 30)
        assert lines["hello from m1"].model_id == "m1"
        with backends.store.session() as session:
            _wait_for(lambda: recent_dead_letters(session, 10))
            letter = recent_dead_letters(session, 10)[0]
        assert (letter["source_topic"], letter["group"]) == ("canopy.logs", "logger-test")
        assert "not a message" in str(letter["payload_preview"]) and letter["reason"]
    finally:
        shipping.stop()
        ingest.stop()


def test_a_workloads_output_reaches_the_store_with_its_model_and_node(
    backends: Backends, tmp_path: Path
) -> None:
    ingest = LogIngest(backends.bus, backends.store, "logger-test")
    ingest.start()
    try:
        output = bus_output(backends.bus, "node-7", per_second=100)
        script = "import sys; print('serving on 8000'); print('oops', file=sys.stderr)"
        workload = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert workload.stdout is not None
        pump = LogPump(workload.stdout, tmp_path / "w.log", lines=output.lines_of("model", "m-w"))
        workload.wait(10)
        pump.join(5)

        def stored() -> list[tuple[str, str, str]]:
            with backends.store.session() as session:
                found = find_lines(session, LogQuery(model="m-w"), None)
                return [(line.source, line.node, line.message) for line in found]

        _wait_for(lambda: len(stored()) == 2)
        assert stored() == [("model", "node-7", "serving on 8000"), ("model", "node-7", "oops")]
        assert (tmp_path / "w.log").read_bytes() == b"serving on 8000\noops\n"
    finally:
        ingest.stop()


def test_retention_removes_old_and_surplus_records(backends: Backends) -> None:
    now = datetime.now(UTC)
    old = [log_row(_line(now - timedelta(days=9), f"old {n}")) for n in range(3)]
    fresh = [log_row(_line(now - timedelta(minutes=n), f"fresh {n}")) for n in range(10)]
    store_batch(backends.store, old + fresh)
    assert prune(backends.store, Retention(days=7, max_records=4), now) == 9
    with backends.store.session() as session:
        kept = session.scalars(select(LogLine.message).order_by(LogLine.id)).all()
    assert kept == [f"fresh {n}" for n in range(6, 10)]


def test_finished_days_are_archived_once_as_gzipped_json_lines(backends: Backends) -> None:
    rows = [log_row(_line(DAY + timedelta(hours=h), f"day one {h}", model_id="m1")) for h in (1, 23)]
    rows.append(log_row(_line(DAY + timedelta(days=1, hours=2), "day two")))
    rows.append(log_row(_line(DAY + timedelta(days=2, hours=1), "today")))
    store_batch(backends.store, rows)
    now = DAY + timedelta(days=2, hours=3)
    written = archive_finished_days(backends.store, backends.blob, now)
    assert written == [DAY.date(), (DAY + timedelta(days=1)).date()]
    first = backends.blob.get(archive_key(DAY.date()))
    lines = [json.loads(text) for text in gzip.decompress(first).decode().splitlines()]
    assert [(line["message"], line["model_id"], line["level"]) for line in lines] == [
        ("day one 1", "m1", "INFO"),
        ("day one 23", "m1", "INFO"),
    ]
    assert archive_key(DAY.date()) == "logs/2026/11/29.jsonl.gz"
    assert archive_finished_days(backends.store, backends.blob, now) == []
    assert backends.blob.get(archive_key(DAY.date())) == first
    with backends.store.session() as session:
        assert session.scalar(select(func.count()).select_from(LogLine)) == 4
        assert recent_dead_letters(session, 10) == []
