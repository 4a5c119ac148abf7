"""Logger benchmark: store throughput next to raw executemany, and `canopy logs --follow` lag, as JSON.

Usage: python tests/bench/logs.py [--records N] [--duration S] [--postgres]

Throughput (records/s into the store, embedded SQLite; with --postgres also the PostgreSQL of
`canopy infra up`): the logger's path (decode the bus payloads, sort, one executemany transaction per
batch of BATCH_SIZE) and its store step alone, next to a raw DB-API executemany of the same rows
in the same batches, same run, same table. Target: >= 10,000 records/s on SQLite.

Follow lag: a logger (LogIngest) and the gateway run on the embedded backends; records are published
at --rate per second for --duration seconds while `canopy logs --follow`'s loop (follow_logs, polling
every 200 ms) prints them; lag = printed minus published. Target: p99 <= 500 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from platform_sdk._client import ApiClient

from bootstrap.commands.logs import FOLLOW_POLL_SECONDS, follow_logs
from canopy.bus import Record
from canopy.bus.typed import publish
from canopy.config import load_config
from canopy.contracts import encode
from canopy.contracts.system import LogRecord
from canopy.logs.store import store_batch
from canopy.roles import Role
from canopy.runtime.backends import open_backends
from canopy.store import Store, open_store
from services.gateway import accounts
from services.gateway.app import create_app
from services.gateway.server import HttpServer
from services.logger.ingest import BATCH_SIZE, BATCH_WINDOW, LogIngest, sort_batch

COLUMNS = ("at", "level", "source", "service", "node", "model_id", "instance_id", "logger", "message")


def payloads(count: int) -> list[Record]:
    """Bus records of typical model log lines, as the logger consumes them."""
    now = datetime.now(UTC)
    return [
        Record(
            "canopy.logs",
            0,
            n,
            None,
            encode(
                LogRecord(
                    at=now,
                    level="INFO",
                    source="model",
                    node="node-1",
                    model_id=f"m{n % 20}",
                    message=f"prediction {n} served in 3.2 ms for input batch of 16 rows",
                )
            ),
            0,
        )
        for n in range(count)
    ]


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds)


def throughput(store: Store, records: list[Record]) -> dict[str, Any]:
    """Records/s of the logger's path, its store step, and raw executemany of the same rows."""
    batches = [records[i : i + BATCH_SIZE] for i in range(0, len(records), BATCH_SIZE)]
    started = time.perf_counter()
    for batch in batches:
        lines, letters = sort_batch(batch, "bench")
        store_batch(store, lines, letters)
    logger_path = time.perf_counter() - started
    sorted_rows = [sort_batch(batch, "bench")[0] for batch in batches]
    started = time.perf_counter()
    for rows in sorted_rows:
        store_batch(store, rows)
    store_step = time.perf_counter() - started
    sqlite = store.engine.dialect.name == "sqlite"
    placeholder = "?" if sqlite else "%s"
    at_of = (lambda at: at.replace(tzinfo=None)) if sqlite else (lambda at: at)
    statement = (
        f"INSERT INTO log_records ({', '.join(COLUMNS)}) VALUES ({', '.join([placeholder] * len(COLUMNS))})"
    )
    tuples = [
        [tuple(at_of(v) if c == "at" else v for c, v in ((c, row[c]) for c in COLUMNS)) for row in rows]
        for rows in sorted_rows
    ]
    started = time.perf_counter()
    for batch_tuples in tuples:
        connection = store.engine.raw_connection()
        try:
            connection.cursor().executemany(statement, batch_tuples)
            connection.commit()
        finally:
            connection.close()
    raw = time.perf_counter() - started
    count = len(records)
    return {
        "records": count,
        "batch_size": BATCH_SIZE,
        "logger_path_records_per_s": _rate(count, logger_path),
        "store_step_records_per_s": _rate(count, store_step),
        "baseline_raw_executemany_records_per_s": _rate(count, raw),
        "store_step_vs_raw": round(raw / store_step, 2),
        "target_records_per_s": 10_000,
    }


def follow_lag(rate: float, duration: float) -> dict[str, Any]:
    """p50/p99 of publish → printed by follow_logs, on the embedded backends."""
    with tempfile.TemporaryDirectory() as home:
        os.environ["CANOPY_HOME"] = home
        backends = open_backends(load_config())
        with backends.store.session() as session:
            admin = accounts.create_user(session, "bench-admin", Role.PLATFORM_ADMIN, "password-123")
            token = accounts.issue_token(session, admin, timedelta(hours=1)).secret
        ingest = LogIngest(backends.bus, backends.store, "logger")
        ingest.start()
        server = HttpServer(create_app(backends), "127.0.0.1", 0, threads=2)
        server.start()
        client = ApiClient(server.url, token)
        lags: list[float] = []
        expected = int(rate * duration)

        def printed(line: str) -> None:
            sent = float(line.rsplit("sent=", 1)[1])
            lags.append(time.time() - sent)
            if len(lags) >= expected:
                raise KeyboardInterrupt

        def follow() -> None:
            try:
                params = {"model": "lag", "since": "1m"}
                follow_logs(lambda q: client.get("/api/v1/logs", params=q), params, printed, True)
            except KeyboardInterrupt:
                pass

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        time.sleep(1.0)
        for _ in range(expected):
            line = LogRecord(
                at=datetime.now(UTC),
                level="INFO",
                source="model",
                model_id="lag",
                message=f"sent={time.time()}",
            )
            publish(backends.bus, line)
            backends.bus.flush()
            time.sleep(1 / rate)
        follower.join(timeout=30)
        client.close()
        server.stop()
        ingest.stop()
        backends.close()
    ordered = sorted(lags)
    return {
        "records": len(lags),
        "published_per_s": rate,
        "lag_p50_ms": round(statistics.median(ordered) * 1000, 1),
        "lag_p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000, 1),
        "poll_interval_ms": FOLLOW_POLL_SECONDS * 1000,
        "logger_batch_window_ms": BATCH_WINDOW * 1000,
        "target_p99_ms": 500,
    }


def main() -> None:
    """Run every case and print one JSON document."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    records = payloads(args.records)
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as home:
        store = open_store(f"sqlite:///{home}/bench.db")
        store.migrate()
        report["store_sqlite"] = throughput(store, records)
        store.close()
    if args.postgres:
        report["store_postgresql"] = postgres_throughput(records)
    report["follow"] = follow_lag(args.rate, args.duration)
    print(json.dumps(report, indent=2))


def postgres_throughput(records: list[Record]) -> dict[str, Any]:
    """Throughput on a fresh schema of `canopy infra up`'s PostgreSQL, dropped afterwards."""
    from sqlalchemy import create_engine, make_url

    from bootstrap.infra.postgres import saved_database_url

    server = make_url(os.environ.get("TEST_POSTGRES_URL") or str(saved_database_url()))
    schema = f"bench_logs_{os.getpid()}"
    admin = create_engine(server.set(drivername="postgresql+psycopg"))
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        url = server.set(drivername="postgresql").update_query_dict({"options": f"-csearch_path={schema}"})
        store = open_store(url.render_as_string(hide_password=False))
        store.migrate()
        result = throughput(store, records)
        store.close()
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
    return result


if __name__ == "__main__":
    main()
