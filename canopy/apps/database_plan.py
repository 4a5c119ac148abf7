"""Where an app instance's database lives and how FerretDB serves it, decided purely.

Each instance that asks for a database gets its own FerretDB process, run by the platform, listening
only on a unix socket in a directory of its own. The workload sees that directory at
WORKLOAD_DATABASE_DIR and gets nothing but the socket's URI and its database name: no credentials.
On the embedded defaults FerretDB keeps the data in SQLite files on the node; when the platform store
is PostgreSQL it keeps them in a PostgreSQL database of that instance alone, on the same server, so
the data outlives the node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from canopy.errors import BadRequest

FERRETDB_VERSION = "v1.24.2"
FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
SOCKET_NAME = "mongodb.sock"
WORKLOAD_DATABASE_DIR = "/opt/database"  # where the socket directory is bound inside a sandbox or container
PG_DATABASE_PREFIX = "canopy_app_"
# FerretDB's pgx pool holds up to 50 connections by default: a few busy instances would use up the
# server's max_connections (100) and starve the platform. Each instance gets this many at most.
PG_POOL_MAX_CONNS = 4
_INSTANCE_ID = re.compile(r"^[a-z0-9][a-z0-9_]{0,47}$")

Handler = Literal["sqlite", "postgresql"]


def ferretdb_binary(home: Path) -> Path:
    """Where `canopy infra up ferretdb` puts the FerretDB binary under CANOPY_HOME."""
    return home / "infra" / "ferretdb" / "bin" / "ferretdb"


def socket_uri(socket_path: str) -> str:
    """The MongoDB URI of a unix socket: its path percent-encoded as the host, as pymongo expects."""
    return f"mongodb://{quote(socket_path, safe='')}/"


def workload_environment(instance_id: str) -> dict[str, str]:
    """The database settings a workload gets (INTERFACES #3): the socket's URI and the database name."""
    return {
        "CANOPY_MONGODB_URI": socket_uri(f"{WORKLOAD_DATABASE_DIR}/{SOCKET_NAME}"),
        "CANOPY_MONGODB_DATABASE": instance_id,
    }


def pg_database_name(instance_id: str) -> str:
    """The PostgreSQL database holding one instance's data."""
    return f"{PG_DATABASE_PREFIX}{instance_id}"


def pg_url(store_url: str, database: str, **settings: str) -> str:
    """A libpq URL (postgres://) for `database` on the server and with the login of the platform store."""
    parts = urlsplit(store_url)
    query = urlencode([*parse_qsl(parts.query), *settings.items()])
    return urlunsplit(("postgres", parts.netloc, f"/{database}", query, ""))


@dataclass(frozen=True)
class DatabasePlan:
    """Everything about one instance's database on one node: directories, handler and what to run."""

    instance_id: str
    handler: Handler
    root: Path  # platform-only (0700): data, state and log; removed with the instance
    socket_dir: Path  # the directory bound into the workload; its group decides who may connect
    pg_database: str = ""  # the postgresql handler's database (empty for sqlite)
    backend_url: str = field(default="", repr=False)  # FerretDB's postgres:// URL, with the login
    admin_url: str = field(default="", repr=False)  # the platform store's, to create and drop pg_database

    @property
    def data_dir(self) -> Path:
        """The SQLite handler's directory (one file per MongoDB database)."""
        return self.root / "data"

    @property
    def state_dir(self) -> Path:
        """FerretDB's state directory."""
        return self.root / "state"

    @property
    def log_file(self) -> Path:
        """FerretDB's log."""
        return self.root / "ferretdb.log"

    @property
    def pid_file(self) -> Path:
        """The pid of the FerretDB serving this instance, to find one left behind by a crash."""
        return self.root / "ferretdb.pid"

    @property
    def socket_path(self) -> Path:
        """The socket on the host."""
        return self.socket_dir / SOCKET_NAME

    @property
    def workload_env(self) -> dict[str, str]:
        """CANOPY_MONGODB_URI and CANOPY_MONGODB_DATABASE for the workload."""
        return workload_environment(self.instance_id)


def check_instance_id(instance_id: str) -> str:
    """The id, if it is safe as a directory, a MongoDB database and a PostgreSQL identifier."""
    if not _INSTANCE_ID.match(instance_id):
        raise BadRequest(
            f"instance id {instance_id!r} cannot name a database: use 1-48 lowercase letters, digits "
            "and underscores, starting with a letter or digit"
        )
    return instance_id


def plan_database(home: Path, instance_id: str, store_url: str) -> DatabasePlan:
    """The plan of one instance's database: PostgreSQL when the platform store is, else SQLite."""
    check_instance_id(instance_id)
    root = home / "databases" / instance_id
    socket_dir = root / "socket"
    if urlsplit(store_url).scheme.split("+")[0] in ("postgresql", "postgres"):
        name, store_database = pg_database_name(instance_id), urlsplit(store_url).path.lstrip("/")
        backend = pg_url(store_url, name, pool_max_conns=str(PG_POOL_MAX_CONNS))
        admin = pg_url(store_url, store_database or "postgres")
        return DatabasePlan(instance_id, "postgresql", root, socket_dir, name, backend, admin)
    return DatabasePlan(instance_id, "sqlite", root, socket_dir)


def ferretdb_argv(binary: Path, plan: DatabasePlan) -> list[str]:
    """FerretDB's command line: a unix socket only, no TCP, no debug listener, no telemetry.

    The socket path is relative (FerretDB runs in the socket directory), so a long CANOPY_HOME cannot
    overflow a socket address. The PostgreSQL URL holds a password: it goes in the environment
    (ferretdb_env), never on the command line.
    """
    argv = [str(binary), f"--handler={plan.handler}", "--listen-addr=", f"--listen-unix={SOCKET_NAME}"]
    argv += [f"--state-dir={plan.state_dir}", "--debug-addr=-", "--telemetry=disable"]
    argv += ["--log-level=info", "--log-format=text"]
    if plan.handler == "sqlite":
        argv.append(f"--sqlite-url=file:{plan.data_dir}/")
    return argv


def ferretdb_env(plan: DatabasePlan) -> dict[str, str]:
    """FerretDB's whole environment: nothing of the platform's but, for PostgreSQL, its URL."""
    env = {"PATH": "/usr/bin:/bin", "DO_NOT_TRACK": "1", "HOME": str(plan.state_dir)}
    if plan.backend_url:
        env["FERRETDB_POSTGRESQL_URL"] = plan.backend_url
    return env
