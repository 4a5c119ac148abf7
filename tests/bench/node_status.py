"""CPU a node status report costs the platform: judging and recording it, and the agent's sandbox check.

Usage: python tests/bench/node_status.py [--reports 3000] [--home CANOPY_HOME]

With --home, the store is a copy of that home's canopy.db (one a `canopy up --demo` ran on, with its
replicas); otherwise a freshly migrated SQLite store holding a model with two replicas. The replicas of
node local-vm are marked ready and the node is enrolled with a new key; then --reports signed reports
listing them, each newer than the one before, go through each handler, timed with time.process_time:
- the node manager's on_status (check the report, record the node), the heartbeat watcher's on_status
  (check the report, read the replica registry, feed the detectors);
- the agent's check that no process of a sandbox is frozen, on a shell running a Python with 3 threads.
Same-run baselines: an empty store transaction, and the Ed25519 check of one report's signature, which
each handler makes once. Prints one JSON document of microseconds per call.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import select, update

from canopy.bus.base import Record
from canopy.config import load_config
from canopy.contracts import Envelope, topics
from canopy.contracts.deploy import WorkloadStatus
from canopy.deployments.tables import Deployment, Replica
from canopy.nodes.enrolment import enrol_here, enrolled
from canopy.runtime.backends import Backends, open_backends
from canopy.workloads import proctree
from canopy.workloads.commands import load_or_create_signing_key, sign, signature_valid
from services.heartbeat.healer import Healer
from services.heartbeat.settings import HealSettings
from services.heartbeat.watch import Watcher
from services.node_manager.service import NodeManager
from tests.node_reports import idle_status

NODE = "local-vm"
RECORD = Record(topic=topics.NODE_STATUS, partition=0, offset=0, key=None, value=b"", timestamp_ms=0)
THREADED = (
    "import threading, time; [threading.Thread(target=time.sleep, args=(600,)).start() for _ in (1, 2)]"
)


def per_call(calls: Sequence[Callable[[], object]]) -> float:
    """Microseconds of CPU per call, over every call after a warm-up of the first 50."""
    for call in calls[:50]:
        call()
    started = time.process_time()
    for call in calls:
        call()
    return round(1e6 * (time.process_time() - started) / len(calls), 1)


def ready_replicas(backends: Backends) -> list[WorkloadStatus]:
    """The node's replicas, marked ready (two of a new model when it has none), as its agent reports them."""
    with backends.store.session() as session:
        if not session.scalars(select(Replica).where(Replica.node_id == NODE)).first():
            session.add(Deployment(model_id="m-bench", generation=1, desired_replicas=2, status="ready"))
            for n in (1, 2):
                endpoint = f"http://127.0.0.1:{40000 + n}"
                session.add(
                    Replica(
                        workload_id=f"w-{n}",
                        model_id="m-bench",
                        generation=1,
                        node_id=NODE,
                        endpoint=endpoint,
                    )
                )
        session.execute(update(Replica).where(Replica.node_id == NODE).values(state="ready"))
        replicas = session.scalars(select(Replica).where(Replica.node_id == NODE)).all()
        return [
            WorkloadStatus(
                workload_id=r.workload_id,
                model_id=r.model_id,
                generation=r.generation,
                state="ready",
                endpoint=r.endpoint,
                process="running",
                probe_ok=True,
            )
            for r in replicas
        ]


def store_figures(backends: Backends, reports: int) -> dict[str, float | int]:
    """Microseconds per report of each handler, and of the baselines."""
    with backends.store.session() as session:
        key = enrol_here(session, backends.config.home, NODE, datetime.now(UTC))
    workloads = ready_replicas(backends)
    start = datetime.now(UTC)
    envelopes = [
        Envelope("id", start, sign(idle_status(NODE, start + timedelta(microseconds=n), workloads), key))
        for n in range(reports)
    ]
    settings = HealSettings.from_config(backends.config)
    manager = NodeManager(backends)
    watcher = Watcher(
        backends, settings, load_or_create_signing_key(backends.config.home), Healer(backends, settings)
    )
    with backends.store.session() as session:
        joined = enrolled(session, NODE)
    assert joined is not None

    def empty_transaction() -> None:
        with backends.store.engine.begin():
            pass

    return {
        "workloads_per_report": len(workloads),
        "node_manager_on_status_us": per_call([lambda e=e: manager.on_status(e, RECORD) for e in envelopes]),
        "watcher_on_status_us": per_call([lambda e=e: watcher.on_status(e, RECORD) for e in envelopes]),
        "baseline_empty_transaction_us": per_call([empty_transaction] * reports),
        "baseline_signature_check_us": per_call(
            [lambda e=e: signature_valid(e.message, joined.key) for e in envelopes]  # type: ignore[arg-type]
        ),
    }


def tree_figures(calls: int) -> dict[str, float]:
    """Microseconds per check that no process of a small tree (a shell, a Python with 3 threads) is frozen."""
    shell = subprocess.Popen(["sh", "-c", f'{sys.executable} -c "{THREADED}"; true'], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while len(proctree.descendants(shell.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        return {"sandbox_frozen_check_us": per_call([lambda: proctree.any_frozen(shell.pid)] * calls)}
    finally:
        os.killpg(shell.pid, 9)
        shell.wait()


def main() -> None:
    """Time each handler on a store, then the sandbox check; print the JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=3000)
    parser.add_argument("--home", type=Path, help="a CANOPY_HOME whose canopy.db to copy")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="canopy-node-status-") as tmp:
        home = Path(tmp)
        for found in sorted(args.home.glob("canopy.db*")) if args.home else []:
            shutil.copy(found, home / found.name)
        os.environ["CANOPY_HOME"] = str(home)
        os.environ.pop("CANOPY_DB_URL", None)
        backends = open_backends(load_config())
        try:
            report = {
                "store": f"a copy of {args.home}/canopy.db" if args.home else "a fresh SQLite store",
                **store_figures(backends, args.reports),
            }
        finally:
            backends.close()
    report.update(tree_figures(args.reports))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
