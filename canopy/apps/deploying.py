"""What deploying an app instance needs: its deploy request and the spec fields of its workload."""

from __future__ import annotations

from dataclasses import dataclass

from canopy.apps.manifest import MANIFEST_FILE, AppManifest
from canopy.apps.records import AppInstance
from canopy.contracts.deploy import DeployRequest, Resources
from canopy.deployments.tables import Deployment

INSTANCE_REPLICAS = 1  # an instance is one running app; its state lives in its devices and database


def instance_manifest(instance: AppInstance) -> AppManifest:
    """The normalised manifest of the app the instance runs, as stored at upload."""
    return AppManifest.model_validate_json(instance.app.manifest)


def app_deploy_request(
    instance: AppInstance, generation: int, replicas: int, labels: dict[str, str]
) -> DeployRequest:
    """The deploy request for one generation of an instance's desired state (0 replicas stops it)."""
    manifest = instance_manifest(instance)
    requirements = manifest.requirements if isinstance(manifest.requirements, list) else []
    return DeployRequest(
        model_id=instance.id,
        kind="app",
        generation=generation,
        replicas=replicas,
        node_labels=labels,
        blob_key=instance.app.blob_key,
        python=manifest.python or "",
        requirements=requirements,
        resources=Resources(cpu=manifest.resources.cpu, memory_mb=max(64, manifest.resources.memory_mb)),
    )


def removal_refusal(instance_id: str, deployment: Deployment | None, replicas: int) -> str | None:
    """Why an instance cannot be deleted now (it wants to run, or a workload is still up), or None."""
    if deployment is None or (deployment.desired_replicas == 0 and replicas == 0):
        return None
    return (
        f"app instance {instance_id} is not stopped (its deployment is {deployment.status}): "
        f"stop it first with `canopy app stop {instance_id}`, then remove it"
    )


def purge_request(instance: AppInstance, generation: int) -> DeployRequest | None:
    """The request that drops a deleted instance's data on the nodes, or None when it kept none."""
    if not instance_manifest(instance).database:
        return None
    return app_deploy_request(instance, generation, 0, {}).model_copy(update={"purge": True})


@dataclass(frozen=True)
class AppWorkload:
    """An instance's package (stored per app) and what its workload spec adds to a model's."""

    app_id: str
    blob_key: str
    sha256: str
    entry: str
    page_port: int
    fixed_port: bool
    env: dict[str, str]
    database: bool


def app_workload(instance: AppInstance, token: str) -> AppWorkload:
    """The package and spec fields of an instance whose new credential is `token`.

    Original-format apps listen on the port their code names (6015 by convention), which the
    manifest records; Canopy apps listen on CANOPY_APP_PORT, which the runtime chooses.
    """
    manifest = instance_manifest(instance)
    env = {"CANOPY_INSTANCE_ID": instance.id, "CANOPY_TOKEN": token}
    return AppWorkload(
        app_id=instance.app_id,
        blob_key=instance.app.blob_key,
        sha256=instance.app.sha256,
        entry=manifest.entry,
        page_port=manifest.page.port if manifest.page else 0,
        fixed_port=manifest.format == "legacy",
        env=env,
        database=manifest.database,
    )


APP_ROOT_MARKERS = (MANIFEST_FILE,)
