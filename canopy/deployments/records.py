"""Reading and writing deployment state: used by the deployer (writes) and the gateway (reads)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from canopy.apps.deploying import app_deploy_request
from canopy.apps.records import AppInstance
from canopy.contracts.deploy import DeployRequest, Resources
from canopy.deployments.tables import Deployment, DeploymentEventRow, Node, Replica
from canopy.models.records import ModelRecord
from canopy.nodes.fleet import node_state
from canopy.nodes.tables import NodeKey
from canopy.store.models import utcnow

_REPLICAS = Replica.__table__.c
# built once: the endpoint lookup of every model call
_LIVE_ENDPOINTS = (
    select(_REPLICAS.endpoint)
    .where(
        _REPLICAS.model_id == bindparam("model_id"),
        _REPLICAS.state == "ready",
        _REPLICAS.endpoint.is_not(None),
        _REPLICAS.endpoint != "",
    )
    .order_by(_REPLICAS.workload_id)
)


def platform_group(name: str, db_url: str) -> str:
    """A consumer group name private to one platform (its services share one database)."""
    return f"{name}-{hashlib.sha256(db_url.encode()).hexdigest()[:10]}"


def record_event(
    session: Session, model_id: str, generation: int, stage: str, message: str, logs: list[str] | None = None
) -> None:
    """Append a progress event and mirror it on the deployment row."""
    session.add(
        DeploymentEventRow(
            model_id=model_id,
            generation=generation,
            stage=stage,
            message=message,
            logs=json.dumps(logs or []),
        )
    )
    deployment = session.get(Deployment, model_id)
    if deployment is not None and deployment.generation == generation:
        deployment.status, deployment.message = stage, message
        deployment.logs, deployment.updated_at = json.dumps(logs or []), utcnow()


def request_generation(session: Session, model_id: str, replicas: int, labels: dict[str, str]) -> int:
    """Record a new desired state for a model and return its generation number."""
    return request_generations(session, [model_id], replicas, labels)[model_id]


def request_generations(
    session: Session, model_ids: Sequence[str], replicas: int, labels: dict[str, str]
) -> dict[str, int]:
    """Record the same new desired state for several models (one UPDATE, one INSERT); their generations."""
    if not model_ids:
        return {}
    desired: dict[str, Any] = {
        "desired_replicas": replicas,
        "node_labels": json.dumps(labels),
        "status": "requested",
        "message": "request sent",
        "logs": "[]",
        "updated_at": utcnow(),
    }
    bumped = (
        update(Deployment)
        .where(Deployment.model_id.in_(model_ids))
        .values(generation=Deployment.generation + 1, **desired)
        .returning(Deployment.model_id, Deployment.generation)
    )
    generations: dict[str, int] = {row[0]: row[1] for row in session.execute(bumped)}
    missing = [model_id for model_id in dict.fromkeys(model_ids) if model_id not in generations]
    if missing:
        session.execute(insert(Deployment), [{"model_id": m, "generation": 1, **desired} for m in missing])
        generations.update(dict.fromkeys(missing, 1))
    return generations


def current_generation(session: Session, model_id: str) -> int:
    """The newest generation requested for a model (0 when never deployed)."""
    deployment = session.get(Deployment, model_id)
    return deployment.generation if deployment is not None else 0


def replicas_of(session: Session, model_id: str) -> list[Replica]:
    """Every replica of a model."""
    return list(
        session.scalars(select(Replica).where(Replica.model_id == model_id).order_by(Replica.workload_id))
    )


def remove_replicas(session: Session, workload_ids: list[str]) -> None:
    """Forget replicas."""
    if workload_ids:
        session.execute(delete(Replica).where(Replica.workload_id.in_(workload_ids)))


def ready_endpoints(replicas: list[Replica]) -> list[str]:
    """Endpoints of the replicas that are ready."""
    return [r.endpoint for r in replicas if r.state == "ready" and r.endpoint]


def live_endpoints(session: Session, model_id: str) -> list[str]:
    """Endpoints of the ready replicas of a model (a Core query: model calls read it on every request)."""
    return list(session.scalars(_LIVE_ENDPOINTS, {"model_id": model_id}))


def deployment_summary(session: Session, model_id: str) -> dict[str, Any]:
    """Status, replica counts, nodes and endpoints of a model (status 'not deployed' when it never was)."""
    return deployment_summaries(session, [model_id])[model_id]


def deployment_summaries(session: Session, model_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """deployment_summary of each model, read in two queries however many models a list page shows."""
    deployments = {
        deployment.model_id: deployment
        for deployment in session.scalars(select(Deployment).where(Deployment.model_id.in_(model_ids)))
    }
    replicas: dict[str, list[Replica]] = {model_id: [] for model_id in model_ids}
    if deployments:
        found = select(Replica).where(Replica.model_id.in_(list(deployments)))
        for replica in session.scalars(found.order_by(Replica.workload_id)):
            replicas[replica.model_id].append(replica)
    return {model_id: _summary(deployments.get(model_id), replicas[model_id]) for model_id in model_ids}


def _summary(deployment: Deployment | None, replicas: list[Replica]) -> dict[str, Any]:
    """The summary of one model's deployment row and replicas."""
    if deployment is None:
        return {"deployment": "not deployed", "replicas": "0/0", "nodes": [], "endpoints": []}
    endpoints = ready_endpoints(replicas)
    return {
        "deployment": deployment.status,
        "replicas": f"{len(endpoints)}/{deployment.desired_replicas}",
        "nodes": sorted({r.node_id for r in replicas}),
        "endpoints": endpoints,
    }


def deployment_view(session: Session, model_id: str, since: int = 0) -> dict[str, Any] | None:
    """A deployment's status, replicas, endpoints and events after event id `since`, or None."""
    deployment = session.get(Deployment, model_id)
    if deployment is None:
        return None
    replicas = replicas_of(session, model_id)
    events = session.scalars(
        select(DeploymentEventRow)
        .where(DeploymentEventRow.model_id == model_id, DeploymentEventRow.id > since)
        .order_by(DeploymentEventRow.id)
    ).all()
    return {
        "model_id": model_id,
        "generation": deployment.generation,
        "status": deployment.status,
        "message": deployment.message,
        "logs": json.loads(deployment.logs),
        "desired_replicas": deployment.desired_replicas,
        "node_labels": json.loads(deployment.node_labels),
        "replicas": [
            {"workload_id": r.workload_id, "node_id": r.node_id, "state": r.state, "endpoint": r.endpoint}
            for r in replicas
        ],
        "nodes": sorted({r.node_id for r in replicas}),
        "endpoints": ready_endpoints(replicas),
        "events": [
            {
                "id": e.id,
                "generation": e.generation,
                "stage": e.stage,
                "message": e.message,
                "logs": json.loads(e.logs),
                "at": e.at.isoformat(),
            }
            for e in events
        ],
        "updated_at": deployment.updated_at.isoformat(),
    }


def node_rows(session: Session) -> list[dict[str, Any]]:
    """The node registry as plain rows, each with its state (ready, lost or removed) as the portal says."""
    now = utcnow()
    return [
        {
            "node_id": n.node_id,
            "state": node_state(n, session.get(NodeKey, n.node_id), now),
            "runtime": n.runtime,
            "labels": json.loads(n.labels),
            "cpu_percent": n.cpu_percent,
            "memory_percent": n.memory_percent,
            "workloads": json.loads(n.workloads),
            "last_seen": n.last_seen.isoformat(),
        }
        for n in session.scalars(select(Node).order_by(Node.node_id))
    ]


UNFINISHED = ("requested", "building", "placing", "starting", "stopping")


def deploy_request(
    record: ModelRecord, generation: int, replicas: int, labels: dict[str, str]
) -> DeployRequest:
    """The deploy request for one generation of a model's desired state."""
    manifest = json.loads(record.manifest)
    requirements = manifest.get("requirements") or []
    resources = manifest.get("resources") or {}
    return DeployRequest(
        model_id=record.id,
        generation=generation,
        replicas=replicas,
        node_labels=labels,
        blob_key=record.blob_key,
        python=str(manifest.get("python") or ""),
        requirements=requirements if isinstance(requirements, list) else [],
        resources=Resources(
            cpu=float(resources.get("cpu", 1.0)), memory_mb=max(64, int(resources.get("memory_mb", 512)))
        ),
    )


def build_deploy_request(
    session: Session, record: ModelRecord, replicas: int, labels: dict[str, str]
) -> DeployRequest:
    """Record the new desired state (committed with the session) and build the request for the deployer."""
    generation = request_generation(session, record.id, replicas, labels)
    return deploy_request(record, generation, replicas, labels)


def build_instance_request(
    session: Session, instance: AppInstance, replicas: int, labels: dict[str, str]
) -> DeployRequest:
    """Record an app instance's new desired state (start: 1 replica, stop: 0) and build its request.

    The one domain path of starting and stopping an instance: the gateway's start/stop routes and the
    scheduler's booked windows both use it.
    """
    generation = request_generation(session, instance.id, replicas, labels)
    return app_deploy_request(instance, generation, replicas, labels)


def unfinished_requests(session: Session) -> list[DeployRequest]:
    """Requests rebuilt from the recorded desired state of every deployment left mid-way."""
    deployments = session.scalars(select(Deployment).where(Deployment.status.in_(UNFINISHED)))
    return [desired_request(session, deployment) for deployment in deployments]


def desired_request(session: Session, deployment: Deployment) -> DeployRequest:
    """The request for a deployment's current generation, rebuilt from its recorded desired state.

    A deployment whose model was deleted meanwhile is brought to zero replicas; app instances
    (deployed under their instance id) are rebuilt from their instance.
    """
    labels = json.loads(deployment.node_labels)
    instance = session.get(AppInstance, deployment.model_id)
    if instance is not None:
        return app_deploy_request(instance, deployment.generation, deployment.desired_replicas, labels)
    record = session.get(ModelRecord, deployment.model_id)
    if record is None:
        return DeployRequest(model_id=deployment.model_id, generation=deployment.generation, replicas=0)
    return deploy_request(record, deployment.generation, deployment.desired_replicas, labels)
