"""An app instance's database: the real FerretDB on SQLite and on the real PostgreSQL, through its socket.

pymongo talks to each instance's FerretDB as a workload would (the tests of who may reach the socket
are in test_app_database_isolation.py).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pymongo
import pytest

from canopy.apps.database import AppDatabaseError, InstanceDatabase, NodeDatabases
from canopy.apps.database_plan import (
    PG_POOL_MAX_CONNS,
    plan_database,
    socket_uri,
)
from canopy.apps.database_plan import ferretdb_binary as built_binary

HANDLERS = ["sqlite", "postgresql"]


@pytest.fixture(params=HANDLERS)
def store_url(request: pytest.FixtureRequest) -> str:
    """The platform store the node runs with: the embedded SQLite, or the real PostgreSQL.

    Set up before canopy_home (tests name it first), while the real CANOPY_HOME still holds the
    PostgreSQL password `canopy infra up` saved.
    """
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return "sqlite:///canopy.db"


@pytest.fixture()
def databases(store_url: str, canopy_home: Path, ferretdb_binary: Path) -> Iterator[list[InstanceDatabase]]:
    """Databases a test makes with `make(...)`; all removed afterwards."""
    made: list[InstanceDatabase] = []
    yield made
    for database in made:
        database.remove()


def make(made: list[InstanceDatabase], home: Path, store_url: str, binary: Path) -> InstanceDatabase:
    """A new instance's database (not started)."""
    database = InstanceDatabase(plan_database(home, f"i{uuid.uuid4().hex[:14]}", store_url), binary)
    made.append(database)
    return database


def link_ferretdb(home: Path, binary: Path) -> None:
    """Make the built FerretDB visible where a node agent with CANOPY_HOME `home` looks for it."""
    target = built_binary(home)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(binary)


class Client:
    """pymongo on the host, through the socket's directory (/proc/self/fd: any path length works)."""

    def __init__(self, database: InstanceDatabase) -> None:
        self.fd = os.open(database.plan.socket_dir, os.O_PATH | os.O_DIRECTORY)
        uri = socket_uri(f"/proc/self/fd/{self.fd}/mongodb.sock")
        self.client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
            uri, serverSelectionTimeoutMS=5000
        )
        self.db = self.client[database.plan.instance_id]

    def close(self) -> None:
        """Close the client and the directory."""
        self.client.close()
        os.close(self.fd)


def pg_database_exists(store_url: str, name: str) -> bool:
    """Whether the PostgreSQL server of `store_url` has database `name`."""
    with psycopg.connect(store_url.replace("+psycopg", ""), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def test_pymongo_inserts_and_reads_and_the_data_outlives_a_restart(
    store_url: str, databases: list[InstanceDatabase], canopy_home: Path, ferretdb_binary: Path
) -> None:
    database = make(databases, canopy_home, store_url, ferretdb_binary)
    database.start()
    assert database.plan.handler == ("postgresql" if store_url.startswith("postgresql") else "sqlite")
    client = Client(database)
    client.db.visits.insert_many([{"page": "/", "n": n} for n in range(5)])
    assert sorted(doc["n"] for doc in client.db.visits.find({"page": "/"})) == [0, 1, 2, 3, 4]
    client.close()
    print(
        f"\nFerretDB {database.plan.handler}: started in {database.startup_seconds:.2f} s, "
        f"RSS {database.rss_bytes() / 2**20:.1f} MiB"
    )
    database.stop()
    database.start()
    client = Client(database)
    assert client.db.visits.count_documents({}) == 5
    client.close()
    if database.plan.handler == "sqlite":
        assert (database.plan.data_dir / f"{database.plan.instance_id}.sqlite").exists()
    else:
        assert pg_database_exists(store_url, database.plan.pg_database)


def test_two_instances_databases_are_separate(
    store_url: str, databases: list[InstanceDatabase], canopy_home: Path, ferretdb_binary: Path
) -> None:
    first = make(databases, canopy_home, store_url, ferretdb_binary)
    second = make(databases, canopy_home, store_url, ferretdb_binary)
    first.start()
    second.start()
    a, b = Client(first), Client(second)
    a.db.secrets.insert_one({"owner": "a"})
    # B's socket shows nothing of A's, even when asked for A's database by name.
    assert first.plan.instance_id not in b.client.list_database_names()
    assert b.client[first.plan.instance_id].secrets.count_documents({}) == 0
    b.db.secrets.insert_one({"owner": "b"})
    assert [doc["owner"] for doc in a.db.secrets.find()] == ["a"]
    assert [doc["owner"] for doc in b.db.secrets.find()] == ["b"]
    a.close()
    b.close()


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_a_busy_instance_holds_at_most_its_share_of_postgresql_connections(
    store_url: str, databases: list[InstanceDatabase], canopy_home: Path, ferretdb_binary: Path
) -> None:
    database = make(databases, canopy_home, store_url, ferretdb_binary)
    database.start()
    client = Client(database)

    def work() -> None:
        for n in range(40):
            client.db.load.insert_one({"n": n})
            list(client.db.load.find().limit(3))

    workers = [threading.Thread(target=work) for _ in range(10)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert client.db.load.count_documents({}) == 400
    with psycopg.connect(store_url.replace("+psycopg", ""), autocommit=True) as conn:
        held = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database.plan.pg_database,)
        ).fetchone()
    client.close()
    assert held is not None and 1 <= held[0] <= PG_POOL_MAX_CONNS


def test_stop_keeps_the_data_and_remove_drops_it(
    store_url: str, databases: list[InstanceDatabase], canopy_home: Path, ferretdb_binary: Path
) -> None:
    database = make(databases, canopy_home, store_url, ferretdb_binary)
    database.start()
    pid = int(database.plan.pid_file.read_text())
    database.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not database.plan.socket_path.exists() and not database.plan.pid_file.exists()
    assert database.plan.root.exists()
    database.remove()
    assert not database.plan.root.exists()
    if database.plan.handler == "postgresql":
        assert not pg_database_exists(store_url, database.plan.pg_database)
    database.remove()  # idempotent


def test_a_restarted_agent_replaces_the_ferretdb_a_crashed_one_left(
    store_url: str, databases: list[InstanceDatabase], canopy_home: Path, ferretdb_binary: Path
) -> None:
    database = make(databases, canopy_home, store_url, ferretdb_binary)
    database.start()
    orphan = int(database.plan.pid_file.read_text())
    again = InstanceDatabase(database.plan, ferretdb_binary)  # what a new agent process would hold
    databases.append(again)
    again.start()
    assert int(again.plan.pid_file.read_text()) != orphan
    assert not psutil.pid_exists(orphan) or psutil.Process(orphan).status() == psutil.STATUS_ZOMBIE
    client = Client(again)
    client.db.n.insert_one({"ok": True})
    client.close()


def test_a_ferretdb_that_died_is_started_again_with_its_data(
    store_url: str, databases: list[InstanceDatabase], canopy_home: Path, ferretdb_binary: Path
) -> None:
    database = make(databases, canopy_home, store_url, ferretdb_binary)
    database.start()
    client = Client(database)
    client.db.counter.insert_one({"hits": 1})
    client.close()
    os.kill(int(database.plan.pid_file.read_text()), 9)
    psutil.Process(int(database.plan.pid_file.read_text())).wait(10)
    assert not database.running() and database.rss_bytes() == 0
    database.start()
    assert database.running() and database.rss_bytes() > 0
    client = Client(database)
    assert client.db.counter.find_one({}, {"_id": 0}) == {"hits": 1}
    client.close()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_node_databases_start_stop_remove_by_instance_id(
    store_url: str, canopy_home: Path, ferretdb_binary: Path
) -> None:
    link_ferretdb(canopy_home, ferretdb_binary)
    node = NodeDatabases(canopy_home, store_url)
    kept, dropped = f"i{uuid.uuid4().hex[:14]}", f"i{uuid.uuid4().hex[:14]}"
    plan = node.start(kept, gid=os.getegid())
    assert node.start(kept) == plan and plan.workload_env["CANOPY_MONGODB_DATABASE"] == kept
    running = node.get(kept)
    assert running is not None and running.running()
    node.start(dropped)
    node.stop(kept)
    assert node.get(kept) is None and plan.root.exists() and not plan.socket_path.exists()
    node.close()
    assert node.get(dropped) is None
    node.remove(dropped)  # after the agent restarted: never started by this object
    node.remove(kept)
    assert not plan.root.exists() and not (canopy_home / "databases" / dropped).exists()


def test_a_ferretdb_that_exits_is_reported_with_its_log(store_url: str, canopy_home: Path) -> None:
    instance_id = f"i{uuid.uuid4().hex[:14]}"
    database = InstanceDatabase(plan_database(canopy_home, instance_id, store_url), Path("/bin/false"))
    with pytest.raises(AppDatabaseError, match=r"did not start: FerretDB exited with code 1") as caught:
        database.start()
    assert str(database.plan.log_file) in caught.value.message
    assert not database.plan.socket_path.exists()
    database.remove()
