"""The app-instance databases a runtime runs next to its workloads on one node.

A workload whose spec asks for a database gets its instance's FerretDB started before it, and
stopped with the last workload of that instance on the node (the data stays). A purge (the instance
was deleted) drops the data for good.
"""

from __future__ import annotations

import threading

from canopy.apps.database import AppDatabaseError, NodeDatabases
from canopy.apps.database_plan import DatabasePlan
from canopy.contracts.deploy import WorkloadSpec


class WorkloadDatabases:
    """Which workload uses which instance's database, starting and stopping them with the workloads."""

    def __init__(self, databases: NodeDatabases | None) -> None:
        self.databases = databases
        self._users: dict[str, str] = {}  # workload id -> instance id
        self._lock = threading.Lock()

    def start(self, workload_id: str, spec: WorkloadSpec, gid: int | None = None) -> DatabasePlan | None:
        """Start the database of the spec's instance if it asked for one (admitting `gid`); its plan."""
        return self.resume(workload_id, spec.model_id, gid) if spec.database else None

    def resume(self, workload_id: str, instance_id: str, gid: int | None = None) -> DatabasePlan:
        """Start (or keep) the database of `instance_id` for `workload_id`, admitting group `gid`."""
        if self.databases is None:
            raise AppDatabaseError(f"app instance {instance_id} asks for a database but this node runs none")
        with self._lock:
            self._users[workload_id] = instance_id
        return self.databases.start(instance_id, gid)

    def admit(self, spec: WorkloadSpec, gid: int) -> None:
        """Let group `gid` (the workload's, known only once picked) reach the instance's database."""
        database = self.databases.get(spec.model_id) if spec.database and self.databases else None
        if database is not None:
            database.admit(gid)

    def stop(self, workload_id: str) -> None:
        """The workload stopped: stop its instance's database unless another workload still uses it."""
        with self._lock:
            instance_id = self._users.pop(workload_id, None)
            in_use = instance_id in self._users.values()
        if instance_id is not None and not in_use and self.databases is not None:
            self.databases.stop(instance_id)

    def remove(self, instance_id: str) -> None:
        """The instance was deleted: drop its data on this node (and its PostgreSQL database) for good."""
        with self._lock:
            in_use = instance_id in self._users.values()
        if in_use:
            raise AppDatabaseError(f"app instance {instance_id} still runs on this node: stop it first")
        if self.databases is not None:
            self.databases.remove(instance_id)

    def close(self) -> None:
        """Stop every database (the agent stops); their data stays."""
        with self._lock:
            self._users.clear()
        if self.databases is not None:
            self.databases.close()
