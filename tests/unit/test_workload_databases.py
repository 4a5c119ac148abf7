"""Instance databases follow their workloads on a node; a running or wanted instance cannot be deleted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from canopy.apps.database import AppDatabaseError, NodeDatabases
from canopy.apps.database_plan import DatabasePlan, plan_database
from canopy.apps.deploying import removal_refusal
from canopy.contracts.deploy import WorkloadSpec
from canopy.deployments.tables import Deployment
from canopy.workloads.databases import WorkloadDatabases


class Recorder(NodeDatabases):
    """NodeDatabases that records calls instead of running FerretDB."""

    def __init__(self) -> None:
        """No FerretDB, no calls yet."""
        super().__init__(Path("/nonexistent"), "sqlite:///x.db")
        self.calls: list[tuple[Any, ...]] = []

    def start(self, instance_id: str, gid: int | None = None) -> DatabasePlan:
        """Record the start; the plan as NodeDatabases would return it."""
        self.calls.append(("start", instance_id, gid))
        return plan_database(self.home, instance_id, self.store_url)

    def stop(self, instance_id: str) -> None:
        """Record the stop."""
        self.calls.append(("stop", instance_id))

    def remove(self, instance_id: str) -> None:
        """Record the removal."""
        self.calls.append(("remove", instance_id))


def spec(instance_id: str, database: bool) -> WorkloadSpec:
    """A docker app spec of `instance_id`, asking for a database or not."""
    return WorkloadSpec(model_id=instance_id, kind="app", runtime="docker", image="x", database=database)


def test_only_an_instance_that_asked_gets_a_database_with_the_workload_group_admitted() -> None:
    recorder = Recorder()
    databases = WorkloadDatabases(recorder)
    assert databases.start("w0", spec("inone", database=False)) is None
    plan = databases.start("w1", spec("iweather", database=True), 10001)
    assert plan is not None and plan.workload_env["CANOPY_MONGODB_DATABASE"] == "iweather"
    assert recorder.calls == [("start", "iweather", 10001)]
    with pytest.raises(AppDatabaseError, match="runs none"):
        WorkloadDatabases(None).start("w1", spec("iweather", database=True))


def test_the_database_stops_with_the_last_workload_of_its_instance_and_is_removed_only_when_idle() -> None:
    recorder = Recorder()
    databases = WorkloadDatabases(recorder)
    databases.start("w1", spec("iweather", database=True))
    databases.start("w2", spec("iweather", database=True))
    databases.stop("w1")
    assert ("stop", "iweather") not in recorder.calls
    with pytest.raises(AppDatabaseError, match="stop it first"):
        databases.remove("iweather")
    databases.stop("w2")
    databases.stop("w2")
    assert recorder.calls.count(("stop", "iweather")) == 1
    databases.remove("iweather")
    assert recorder.calls[-1] == ("remove", "iweather")


@pytest.mark.parametrize(
    ("desired", "replicas", "refused"),
    [(None, 0, False), (0, 0, False), (1, 0, True), (0, 1, True), (1, 1, True)],
)
def test_an_instance_is_removed_only_once_stopped(desired: int | None, replicas: int, refused: bool) -> None:
    deployment = (
        None if desired is None else Deployment(model_id="i1", desired_replicas=desired, status="ready")
    )
    why = removal_refusal("i1", deployment, replicas)
    assert (why is not None) == refused
    if why is not None:
        assert "stop it first with `canopy app stop i1`" in why
