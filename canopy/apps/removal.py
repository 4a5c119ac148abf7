"""Removing a stopped app instance: the one path the gateway's DELETE and the scheduler's unbind share."""

from __future__ import annotations

from sqlalchemy.orm import Session

from canopy.apps.deploying import purge_request, removal_refusal
from canopy.apps.instances import remove_instance
from canopy.apps.records import AppInstance
from canopy.contracts.deploy import DeployRequest
from canopy.deployments.records import replicas_of, request_generation
from canopy.deployments.tables import Deployment
from canopy.errors import Conflict


def remove_stopped_instance(session: Session, instance: AppInstance) -> DeployRequest | None:
    """Remove an instance and release its holds, or Conflict while it runs; returns the purge to publish."""
    deployment = session.get(Deployment, instance.id)
    refusal = removal_refusal(instance.id, deployment, len(replicas_of(session, instance.id)))
    if refusal is not None:
        raise Conflict(refusal)
    purge = purge_request(instance, request_generation(session, instance.id, 0, {})) if deployment else None
    remove_instance(session, instance)
    return purge
