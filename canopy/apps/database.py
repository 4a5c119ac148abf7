"""One app instance's database on a node: its own FerretDB process, reachable only through a unix socket.

The node agent starts it next to the workload (`start`), lets the workload's group reach the socket
(`admit`), stops it with the workload (`stop`, the data stays) and deletes it with the instance
(`remove`, the data is gone for good).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from canopy.apps.database_plan import (
    DatabasePlan,
    ferretdb_argv,
    ferretdb_binary,
    ferretdb_env,
    plan_database,
)
from canopy.apps.mongo_ping import ping
from canopy.errors import CanopyError
from canopy.private import make_private_dir

log = logging.getLogger(__name__)
SOCKET_DIR_MODE = 0o2750  # setgid: the socket FerretDB creates takes the directory's group
FERRETDB_UMASK = 0o007  # the socket is 0770: its owner (the platform) and the directory's group
LOG_LINES = 20
MAX_LOG_BYTES = 8 * 1024 * 1024  # past this, a start moves the log to ferretdb.log.1


class AppDatabaseError(CanopyError):
    """An instance's database could not be started or removed."""

    status, code, retryable = 503, "app_database_failed", True


def find_ferretdb(home: Path) -> Path:
    """The FerretDB binary `canopy infra up ferretdb` built, else `ferretdb` on PATH."""
    built = ferretdb_binary(home)
    if os.access(built, os.X_OK):
        return built
    found = shutil.which("ferretdb")
    if found:
        return Path(found)
    raise AppDatabaseError(f"FerretDB is not built ({built} is missing): run `canopy infra up ferretdb`")


def _tail(path: Path, lines: int = LOG_LINES) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        text = []
    return "\n".join(f"    {line}" for line in text) or "    (the log is empty)"


class InstanceDatabase:
    """The FerretDB serving one instance on this node; every method is idempotent and thread-safe."""

    start_timeout = 30.0
    stop_timeout = 10.0

    def __init__(self, plan: DatabasePlan, binary: Path) -> None:
        self.plan = plan
        self.binary = binary
        self.startup_seconds = 0.0
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_instance(cls, home: Path, instance_id: str, store_url: str) -> InstanceDatabase:
        """The database of `instance_id` under CANOPY_HOME `home`, on the backend `store_url` implies."""
        return cls(plan_database(home, instance_id, store_url), find_ferretdb(home))

    def start(self) -> None:
        """Create what is missing, start FerretDB and return once it answers ping through the socket."""
        with self._lock:
            if self.running() and ping(self.plan.socket_path) is None:
                return
            self._terminate()
            self._prepare()
            began = time.monotonic()
            self.plan.socket_path.unlink(missing_ok=True)
            if self.plan.log_file.exists() and self.plan.log_file.stat().st_size > MAX_LOG_BYTES:
                os.replace(self.plan.log_file, self.plan.log_file.with_suffix(".log.1"))
            with self.plan.log_file.open("ab") as log_file:
                log_file.write(f"---- canopy: starting FerretDB for {self.plan.instance_id}\n".encode())
                self._process = subprocess.Popen(
                    ferretdb_argv(self.binary, self.plan),
                    cwd=self.plan.socket_dir,
                    env=ferretdb_env(self.plan),
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    umask=FERRETDB_UMASK,
                    start_new_session=True,
                )
            self.plan.pid_file.write_text(f"{self._process.pid}\n")
            problem = self._wait_ready(began + self.start_timeout)
            if problem is not None:
                self._terminate()
                raise AppDatabaseError(
                    f"the database of app instance {self.plan.instance_id} did not start: {problem}\n"
                    f"  last lines of {self.plan.log_file}:\n{_tail(self.plan.log_file)}"
                )
            self.startup_seconds = time.monotonic() - began
            log.info(
                "database of %s up (%s handler) in %.2f s",
                self.plan.instance_id,
                self.plan.handler,
                self.startup_seconds,
            )

    def admit(self, gid: int) -> None:
        """Let group `gid` (the workload's) connect: the socket directory and socket get that group.

        Only the platform and that group can traverse the directory (mode 2750), so no other uid on
        the node reaches the socket, whatever is bound where. Call it before or after start; a
        restarted FerretDB's socket inherits the group.
        """
        with self._lock:
            make_private_dir(self.plan.root)
            self._make_socket_dir()
            os.chown(self.plan.socket_dir, -1, gid, follow_symlinks=False)
            os.chmod(self.plan.socket_dir, SOCKET_DIR_MODE)
            if self.plan.socket_path.exists():
                os.chown(self.plan.socket_path, -1, gid, follow_symlinks=False)

    def running(self) -> bool:
        """Whether the FerretDB this object started is alive (if not, `start` starts it again)."""
        return self._process is not None and self._process.poll() is None

    def rss_bytes(self) -> int:
        """FerretDB's resident memory now (0 when it does not run)."""
        process = self._process
        try:
            return int(psutil.Process(process.pid).memory_info().rss) if self.running() and process else 0
        except psutil.Error:
            return 0

    def stop(self) -> None:
        """Stop FerretDB; the data stays for the next start."""
        with self._lock:
            self._terminate()

    def remove(self) -> None:
        """Stop FerretDB and delete the instance's data for good (its PostgreSQL database too)."""
        with self._lock:
            self._terminate()
            if self.plan.handler == "postgresql":
                from canopy.apps.pg_databases import drop_database  # psycopg: on PostgreSQL only

                self._backend(drop_database)
            shutil.rmtree(self.plan.root, ignore_errors=True)

    def _prepare(self) -> None:
        """The private directories, the socket directory and, on PostgreSQL, the instance's database."""
        for directory in (self.plan.root, self.plan.data_dir, self.plan.state_dir):
            make_private_dir(directory)
        self._make_socket_dir()
        if self.plan.handler == "postgresql":
            from canopy.apps.pg_databases import create_database  # psycopg: on PostgreSQL only

            self._backend(create_database)

    def _make_socket_dir(self) -> None:
        try:
            self.plan.socket_dir.mkdir(mode=0o700)
        except FileExistsError:
            return
        os.chmod(self.plan.socket_dir, SOCKET_DIR_MODE)

    def _backend(self, action: Callable[[DatabasePlan], str | None]) -> None:
        """Run create_database or drop_database for this plan, as an AppDatabaseError when it fails."""
        problem = action(self.plan)
        if problem is not None:
            raise AppDatabaseError(f"the database of app instance {self.plan.instance_id}: {problem}")

    def _wait_ready(self, deadline: float) -> str | None:
        """None once FerretDB answers ping; why not when it exits or the deadline passes."""
        problem = "no answer yet"
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                return f"FerretDB exited with code {self._process.returncode}"
            if self.plan.socket_path.exists():
                problem = ping(self.plan.socket_path) or ""
                if not problem:
                    return None
            time.sleep(0.05)
        return f"no answer on {self.plan.socket_path} within {self.start_timeout:.0f} s ({problem})"

    def _terminate(self) -> None:
        """Stop the FerretDB this object started, and one a crashed agent left behind; remove the socket."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(self.stop_timeout)
        leftover = self._leftover()
        if leftover is not None:
            leftover.terminate()
            for survivor in psutil.wait_procs([leftover], self.stop_timeout)[1]:
                survivor.kill()
        self.plan.pid_file.unlink(missing_ok=True)
        self.plan.socket_path.unlink(missing_ok=True)

    def _leftover(self) -> psutil.Process | None:
        """The FerretDB in the pid file if it still runs: the same binary, in this socket directory."""
        try:
            process = psutil.Process(int(self.plan.pid_file.read_text().split()[0]))
            same_binary = Path(process.exe()) == self.binary.resolve()
            ours = same_binary and Path(process.cwd()) == self.plan.socket_dir
        except (OSError, ValueError, IndexError, psutil.Error):
            return None
        return process if ours else None


class NodeDatabases:
    """The instance databases one node agent runs, by instance id: what the agent holds and calls."""

    def __init__(self, home: Path, store_url: str) -> None:
        self.home = home
        self.store_url = store_url
        self._databases: dict[str, InstanceDatabase] = {}
        self._lock = threading.Lock()

    def start(self, instance_id: str, gid: int | None = None) -> DatabasePlan:
        """Start the instance's database (kept if it runs), admitting group `gid` when given.

        The plan returned holds what the workload needs: `socket_dir` to bind at
        WORKLOAD_DATABASE_DIR and `workload_env` to add to its environment.
        """
        with self._lock:
            database = self._databases.get(instance_id)
            if database is None:
                database = InstanceDatabase.for_instance(self.home, instance_id, self.store_url)
                self._databases[instance_id] = database
        if gid is not None:
            database.admit(gid)
        database.start()
        return database.plan

    def get(self, instance_id: str) -> InstanceDatabase | None:
        """The database this node started for the instance, if any."""
        with self._lock:
            return self._databases.get(instance_id)

    def stop(self, instance_id: str) -> None:
        """Stop the instance's database with its workload; the data stays for its next start."""
        with self._lock:
            database = self._databases.pop(instance_id, None)
        if database is not None:
            database.stop()

    def remove(self, instance_id: str) -> None:
        """The instance is deleted: stop its database and drop its data for good (started here or not)."""
        with self._lock:
            database = self._databases.pop(instance_id, None)
        if database is None:
            plan = plan_database(self.home, instance_id, self.store_url)
            database = InstanceDatabase(plan, ferretdb_binary(self.home))
        database.remove()

    def close(self) -> None:
        """Stop every database (the agent is stopping); their data stays."""
        with self._lock:
            databases, self._databases = list(self._databases.values()), {}
        for database in databases:
            database.stop()
