"""The deployer's part for app instances: a fresh credential at every start, and the app's spec fields."""

from __future__ import annotations

from canopy.apps.credentials import issue_instance_token
from canopy.apps.deploying import AppWorkload, app_workload
from canopy.apps.records import AppInstance
from canopy.contracts.deploy import WorkloadSpec
from canopy.errors import NotFound
from canopy.store import Store


def start_app(store: Store, instance_id: str) -> AppWorkload:
    """Mint the instance's new credential (the previous one stops working) and read what it runs."""
    with store.session() as session:
        instance = session.get(AppInstance, instance_id)
        if instance is None:
            raise NotFound(f"app instance {instance_id} no longer exists; create it again")
        return app_workload(instance, issue_instance_token(session, instance_id))


def prepared_app(store: Store, instance_id: str) -> AppWorkload:
    """What an instance runs, read ahead of its start (its credential is minted only at the start)."""
    with store.session() as session:
        instance = session.get(AppInstance, instance_id)
        if instance is None:
            raise NotFound(f"app instance {instance_id} no longer exists; create it again")
        return app_workload(instance, "")


def with_app(spec: WorkloadSpec, app: AppWorkload | None) -> WorkloadSpec:
    """A model's workload spec turned into the app's (unchanged when `app` is None)."""
    if app is None:
        return spec
    return WorkloadSpec.model_validate(
        {
            **spec.model_dump(),
            "kind": "app",
            "entry": app.entry,
            "page_port": app.page_port,
            "fixed_port": app.fixed_port,
            "env": app.env,
            "database": app.database,
        }
    )
