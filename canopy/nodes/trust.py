"""Pure rules for trusting a node's messages: its own signature, a sane timestamp, its own workloads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from canopy.contracts.deploy import NodeStatus, WorkloadEvent
from canopy.ed25519 import Ed25519PublicKey
from canopy.workloads.commands import signature_valid

CLOCK_SKEW = timedelta(seconds=10)
MAX_STATUS_AGE = timedelta(seconds=60)


@dataclass(frozen=True)
class EnrolledNode:
    """What the platform knows of a node that joined: its key and the addresses its workloads use."""

    node_id: str
    key: Ed25519PublicKey
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class SentCommand:
    """A replica the deployer told a node to start: which node, model and generation."""

    node_id: str
    model_id: str
    generation: int


def status_refusal(status: NodeStatus, node: EnrolledNode | None, now: datetime) -> str | None:
    """Why a node status must be refused (unknown node, bad signature, future or stale time), or None."""
    if node is None:
        return f"node {status.node_id} has not joined the platform"
    if not signature_valid(status, node.key):
        return f"signature missing or not by node {status.node_id}'s key"
    if status.at > now + CLOCK_SKEW:
        return f"timestamp {status.at.isoformat()} is in the future"
    if status.at < now - MAX_STATUS_AGE:
        return f"timestamp {status.at.isoformat()} is older than {MAX_STATUS_AGE.total_seconds():.0f} s"
    return None


def event_refusal(event: WorkloadEvent, node: EnrolledNode | None, sent: SentCommand | None) -> str | None:
    """Why a workload event must be refused (bad signature, not that node's workload, foreign endpoint)."""
    if node is None:
        return f"node {event.node_id} has not joined the platform"
    if not signature_valid(event, node.key):
        return f"signature missing or not by node {event.node_id}'s key"
    if sent is None or (sent.node_id, sent.model_id, sent.generation) != (
        event.node_id,
        event.model_id,
        event.generation,
    ):
        return f"node {event.node_id} was not asked to run {event.workload_id} g{event.generation}"
    if event.endpoint and not endpoint_on(event.endpoint, node.addresses):
        return f"endpoint {event.endpoint} is not on node {event.node_id} ({', '.join(node.addresses)})"
    return None


def endpoint_on(endpoint: str, addresses: Sequence[str]) -> bool:
    """Whether an http(s) endpoint's host is one of the node's registered addresses."""
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and host is not None and host in addresses
