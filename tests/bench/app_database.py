"""Per-instance database cost: FerretDB's start-to-ping time and resident memory, per handler.

Usage: python tests/bench/app_database.py [--instances N] [--documents N]

For each handler (sqlite; postgresql when `canopy infra up` saved a PostgreSQL login) N instances'
databases are started one after the other through InstanceDatabase (directories, the PostgreSQL
database, FerretDB, ping through the socket), then each gets `documents` inserts with pymongo. The
baseline, measured in the same run, is a bare `ferretdb --version` exec (the cost of starting the
process at all). Medians, p90, the ratio to the baseline and RSS (idle and after the inserts) are
printed as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pymongo

from bootstrap.infra.postgres import saved_database_url
from canopy.apps.database import InstanceDatabase, find_ferretdb
from canopy.apps.database_plan import plan_database, socket_uri
from canopy.config import load_config


def quantiles(values: list[float]) -> dict[str, float]:
    """Median and p90 of a sample, in milliseconds."""
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1), "p90_ms": round(p90 * 1000, 1)}


def measure(home: Path, store_url: str, binary: Path, instances: int, documents: int) -> dict[str, object]:
    """Start `instances` databases on one backend, fill each, and report start times and RSS."""
    started: list[InstanceDatabase] = []
    try:
        for _ in range(instances):
            database = InstanceDatabase(plan_database(home, f"b{uuid.uuid4().hex[:14]}", store_url), binary)
            database.start()
            started.append(database)
        idle = [database.rss_bytes() / 2**20 for database in started]
        for database in started:
            fd = os.open(database.plan.socket_dir, os.O_PATH | os.O_DIRECTORY)
            with pymongo.MongoClient(socket_uri(f"/proc/self/fd/{fd}/mongodb.sock")) as client:
                collection = client[database.plan.instance_id].readings
                collection.insert_many([{"n": n, "payload": "x" * 100} for n in range(documents)])
                assert collection.count_documents({}) == documents
            os.close(fd)
        loaded = [database.rss_bytes() / 2**20 for database in started]
        return {
            "start": quantiles([database.startup_seconds for database in started]),
            "rss_idle_mib": round(statistics.median(idle), 1),
            "rss_after_inserts_mib": round(statistics.median(loaded), 1),
        }
    finally:
        for database in started:
            database.remove()


def quantiles_of(figures: dict[str, object]) -> float:
    """The median start time (ms) of one handler's figures."""
    start = figures["start"]
    assert isinstance(start, dict)
    return float(start["p50_ms"])


def main() -> None:
    """Measure each available handler and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=5)
    parser.add_argument("--documents", type=int, default=1000)
    args = parser.parse_args()
    binary = find_ferretdb(load_config().home)
    baseline = []
    for _ in range(args.instances):
        began = time.monotonic()
        subprocess.run([str(binary), "--version"], capture_output=True, check=True)
        baseline.append(time.monotonic() - began)
    base = quantiles(baseline)
    report: dict[str, object] = {"instances": args.instances, "documents": args.documents}
    report["baseline_exec_version"] = base
    stores = {"sqlite": "sqlite:///unused.db"}
    postgres = saved_database_url()
    if postgres is not None:
        stores["postgresql"] = postgres
    with tempfile.TemporaryDirectory(prefix="canopy-bench-db-") as home:
        for handler, store_url in stores.items():
            figures = measure(Path(home), store_url, binary, args.instances, args.documents)
            start = quantiles_of(figures)
            figures["start_vs_baseline"] = round(start / max(base["p50_ms"], 0.1), 1)
            report[handler] = figures
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
