"""PostgreSQL: Debian's cluster on 127.0.0.1:5432 with a `canopy` role, its password made per install."""

from __future__ import annotations

import secrets
import socket
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bootstrap.infra.base import HOST, Component, InfraPaths, Ownership, clear_ownership, save_ownership, say
from bootstrap.infra.packages import find_binary
from bootstrap.infra.process import is_running, port_open, run_logged, tail, wait_until
from canopy.config import load_config
from canopy.private import write_private_file

PORT = 5432
ROLE = "canopy"
DATABASE = "canopy"
PASSWORD_FILE = "password"
HIDDEN = "***"
_SSL_REQUEST = struct.pack("!ii", 8, 80877103)


@dataclass(frozen=True)
class Cluster:
    """One row of `pg_lsclusters`."""

    version: str
    name: str
    port: int
    online: bool
    data_dir: Path
    log_file: Path


def parse_lsclusters(text: str) -> list[Cluster]:
    """Parse `pg_lsclusters --no-header` output."""
    clusters = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6 or not fields[2].isdigit():
            continue
        log = fields[6] if len(fields) > 6 else ""
        clusters.append(
            Cluster(
                fields[0],
                fields[1],
                int(fields[2]),
                fields[3].startswith("online"),
                Path(fields[5]),
                Path(log),
            )
        )
    return clusters


def pick_cluster(clusters: list[Cluster], port: int = PORT) -> Cluster | None:
    """The cluster configured for `port`, the newest version first."""
    matching = [c for c in clusters if c.port == port]
    matching.sort(key=lambda c: float(c.version) if c.version.replace(".", "").isdigit() else 0.0)
    return matching[-1] if matching else None


def generate_password() -> str:
    """A new random password for the canopy role (URL- and SQL-safe characters only)."""
    return secrets.token_urlsafe(24)


def ensure_role_sql(password: str) -> list[str]:
    """SQL creating (or resetting) the canopy login role, then the check that its database exists."""
    literal = "'" + password.replace("'", "''") + "'"
    return [
        f"DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN "
        f"ALTER ROLE {ROLE} WITH LOGIN PASSWORD {literal}; ELSE "
        f"CREATE ROLE {ROLE} WITH LOGIN PASSWORD {literal}; END IF; END $$;",
        f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'",
    ]


def database_url(password: str, port: int = PORT, *, reveal: bool = True) -> str:
    """The CANOPY_DB_URL of the canopy database, its password replaced by *** unless `reveal`."""
    return f"postgresql://{ROLE}:{password if reveal else HIDDEN}@{HOST}:{port}/{DATABASE}"


def saved_database_url(paths: InfraPaths | None = None, *, reveal: bool = True) -> str | None:
    """The CANOPY_DB_URL for the PostgreSQL that `canopy infra up` set up, or None before it ran."""
    postgres = Postgres(paths or InfraPaths.default())
    password = postgres.saved_password()
    return None if password is None else database_url(password, postgres.port, reveal=reveal)


class Postgres(Component):
    """Debian's PostgreSQL cluster, started with pg_ctlcluster rather than as a system service."""

    name = "postgres"
    port = PORT
    start_timeout = 90.0
    stop_timeout = 60.0

    def __init__(self, paths: InfraPaths) -> None:
        """The cluster on CANOPY_POSTGRES_PORT (5432 by default)."""
        super().__init__(paths)
        self.port = load_config().postgres_port

    @property
    def password_file(self) -> Path:
        """Where this install keeps the canopy role's password (mode 0600)."""
        return self.cache / PASSWORD_FILE

    def saved_password(self) -> str | None:
        """The canopy role's password made by this install, or None before the first `infra up`."""
        try:
            return self.password_file.read_text().strip() or None
        except FileNotFoundError:
            return None

    def password(self) -> str:
        """The canopy role's password, generated and saved (mode 0600) on this install's first use."""
        saved = self.saved_password()
        if saved is not None:
            return saved
        created = generate_password()
        write_private_file(self.password_file, f"{created}\n".encode())
        say(f"postgres: generated the password of role '{ROLE}' in {self.password_file}")
        return created

    def binaries(self) -> dict[str, str]:
        """The server, Debian's cluster wrappers, psql and runuser."""
        return {
            "/usr/lib/postgresql/*/bin/postgres": "postgresql",
            "pg_ctlcluster": "postgresql",
            "pg_lsclusters": "postgresql",
            "psql": "postgresql",
            "runuser": "util-linux",
        }

    def answers(self, timeout: float = 3.0) -> bool:
        """The server speaks the PostgreSQL protocol: it answers an SSLRequest with S or N."""
        try:
            with socket.create_connection((HOST, self.port), timeout=timeout) as conn:
                conn.sendall(_SSL_REQUEST)
                return conn.recv(1) in (b"S", b"N")
        except OSError:
            return False

    def clusters(self) -> list[Cluster]:
        """The clusters Debian knows about."""
        tool = find_binary("pg_lsclusters") or "pg_lsclusters"
        out = subprocess.run([tool, "--no-header"], capture_output=True, text=True, check=False)
        return parse_lsclusters(out.stdout)

    def cluster(self) -> Cluster:
        """The cluster on this port, created with pg_createcluster if there is none."""
        found = pick_cluster(self.clusters(), self.port)
        if found is not None:
            return found
        versions = sorted(
            {p.parent.parent.name for p in Path("/usr/lib/postgresql").glob("*/bin/postgres")},
            key=lambda v: float(v) if v.replace(".", "").isdigit() else 0.0,
        )
        if not versions:
            raise self.failure("no PostgreSQL server binaries under /usr/lib/postgresql")
        taken = {c.name for c in self.clusters() if c.version == versions[-1]}
        name = "main" if "main" not in taken else f"canopy{self.port}"
        say(f"postgres: creating cluster {versions[-1]}/{name} on port {self.port} (first run only)...")
        create = find_binary("pg_createcluster") or "pg_createcluster"
        code = run_logged([create, versions[-1], name, "-p", str(self.port)], self.log_file, cwd=Path("/"))
        found = pick_cluster(self.clusters(), self.port)
        if code != 0 or found is None:
            raise self.failure(f"pg_createcluster {versions[-1]} {name} failed (exit {code})")
        return found

    def prepare(self) -> None:
        """Make sure a cluster exists for this port."""
        self.cluster()

    def start(self) -> Ownership:
        """Start the cluster with pg_ctlcluster and record the postmaster's pid."""
        cluster = self.cluster()
        ctl = find_binary("pg_ctlcluster") or "pg_ctlcluster"
        code = run_logged(
            [ctl, cluster.version, cluster.name, "start"],
            self.log_file,
            cwd=Path("/"),
            timeout=self.start_timeout,
        )
        if code != 0:
            self._copy_server_log(cluster)
            raise self.failure(f"pg_ctlcluster {cluster.version} {cluster.name} start failed (exit {code})")
        pid = self._postmaster_pid(cluster)
        if pid is None:
            self._copy_server_log(cluster)
            raise self.failure(f"no postmaster.pid in {cluster.data_dir} after start")
        return save_ownership(self.paths, self.name, pid, version=cluster.version, cluster=cluster.name)

    def stop(self, record: Ownership) -> None:
        """Stop the cluster with pg_ctlcluster (fast mode)."""
        version = str(record.extra.get("version", ""))
        name = str(record.extra.get("cluster", ""))
        ctl = find_binary("pg_ctlcluster") or "pg_ctlcluster"
        run_logged(
            [ctl, version, name, "stop", "-m", "fast"],
            self.log_file,
            cwd=Path("/"),
            timeout=self.stop_timeout,
        )
        wait_until(lambda: not is_running(record.pid), self.stop_timeout)
        clear_ownership(self.paths, self.name)

    def ensure(self) -> None:
        """Make sure the canopy role (with this install's password) and database exist and log in works.

        A role left with another password, such as the fixed `canopy` of older installs, is given
        this install's password.
        """
        password = self.password()
        if self._login(password) is None:
            return
        say(f"postgres: setting up role '{ROLE}' with this install's password and database '{DATABASE}'...")
        first, exists = ensure_role_sql(password)
        self._psql(first, secret=password)
        if self._psql(exists).strip() != "1":
            self._psql(f"CREATE DATABASE {DATABASE} OWNER {ROLE}")
        self._psql(f"ALTER DATABASE {DATABASE} OWNER TO {ROLE}")
        problem = self._login(password)
        if problem is not None:
            raise self.failure(f"password login as {ROLE} on {self.address} fails: {problem}")
        hidden = database_url(password, self.port, reveal=False)
        say(f"postgres: use CANOPY_DB_URL={hidden} (password in {self.password_file})")

    def allow_database_creation(self) -> bool:
        """Grant the canopy role CREATEDB (for the app instances' databases); True when it lacked it."""
        if self._psql(f"SELECT rolcreatedb FROM pg_roles WHERE rolname = '{ROLE}'").strip() == "t":
            return False
        self._psql(f"ALTER ROLE {ROLE} CREATEDB")
        return True

    def _login(self, password: str) -> str | None:
        """None when the canopy role can log in over TCP with `password`, otherwise the error."""
        import psycopg

        try:
            with psycopg.connect(
                host=HOST, port=self.port, user=ROLE, password=password, dbname=DATABASE, connect_timeout=5
            ) as conn:
                conn.execute("SELECT 1")
            return None
        except psycopg.Error as exc:
            return str(exc).strip() or type(exc).__name__

    def _psql(self, sql: str, secret: str = "") -> str:
        """Run SQL as the postgres superuser, fed on stdin (not argv); the log hides `secret`."""
        runuser = find_binary("runuser") or "runuser"
        psql = find_binary("psql") or "psql"
        result = subprocess.run(
            [
                runuser,
                "-u",
                "postgres",
                "--",
                psql,
                "-p",
                str(self.port),
                "-X",
                "-v",
                "ON_ERROR_STOP=1",
                "-tA",
            ],
            input=sql,
            capture_output=True,
            text=True,
            cwd="/",
            check=False,
            timeout=60,
        )
        with self.log_file.open("a") as log:
            shown = sql.replace(secret, HIDDEN) if secret else sql
            log.write(f"psql: {shown}\n{result.stdout}{result.stderr}")
        if result.returncode != 0:
            raise self.failure(f"psql as postgres failed: {result.stderr.strip()}")
        return result.stdout

    def _postmaster_pid(self, cluster: Cluster) -> int | None:
        def read() -> int | None:
            try:
                return int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                return None

        wait_until(lambda: read() is not None and port_open(HOST, self.port), 10)
        return read()

    def _copy_server_log(self, cluster: Cluster) -> None:
        lines = tail(cluster.log_file, 15) if cluster.log_file.name else []
        if lines:
            with self.log_file.open("a") as log:
                log.write(f"---- last lines of {cluster.log_file}\n" + "\n".join(lines) + "\n")
