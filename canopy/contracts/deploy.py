"""Contracts of the deploy flow: requests, placement, node status, signed node commands, events."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from canopy.contracts import topics
from canopy.contracts.base import Message, SignedMessage, contract

Stage = Literal["requested", "building", "placing", "starting", "ready", "failed", "stopping", "stopped"]
WorkloadState = Literal["starting", "ready", "failed", "stopped"]
WorkloadKind = Literal["model", "app"]
ProcessState = Literal["running", "exited", "stopped"]


class Resources(BaseModel):
    """CPU cores and memory a workload is limited to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpu: float = Field(default=1.0, gt=0, le=64)
    memory_mb: int = Field(default=512, ge=64, le=262144)


class WorkloadSpec(BaseModel):
    """What a node agent needs to start one replica: the built artefact and its limits.

    For an app (kind "app") `model_id` is the instance id, and the spec also carries the entry the
    runner starts, the port its page listens on inside the workload (0: no page) and the instance's
    own environment (CANOPY_INSTANCE_ID, CANOPY_TOKEN, ...); the runtime adds CANOPY_API_URL and
    CANOPY_APP_PORT.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_id: str
    kind: WorkloadKind = "model"
    runtime: Literal["process", "docker"]
    package_dir: str = Field(default="", description="the unpacked package on the host (bound read-only)")
    env_dir: str = Field(default="", description="process: the virtualenv with the model server")
    sdk_dir: str = Field(default="", description="the PYTHONPATH entry with platform_sdk (bound read-only)")
    python: str = Field(
        default="", description="process: the Python whose root filesystem it runs in (3.11 if empty)"
    )
    image: str = Field(default="", description="docker: the image to run (the package's dependencies)")
    resources: Resources = Resources()
    entry: str = Field(default="", description="app: 'module:function', 'module' or 'file.py'")
    page_port: int = Field(default=0, ge=0, le=65535, description="app: its page's port, 0 for none")
    fixed_port: bool = Field(
        default=False, description="app: it listens on page_port whatever CANOPY_APP_PORT says (legacy)"
    )
    env: dict[str, str] = Field(default_factory=dict, description="app: the instance's own variables")
    database: bool = Field(default=False, description="app: run the instance's database next to it")


@contract("deploy-request", topic=topics.DEPLOY_REQUESTS)
class DeployRequest(Message):
    """Run `replicas` replicas of a model (0 undeploys); a higher generation supersedes a lower one.

    An app instance is deployed the same way with kind "app": `model_id` is the instance id.
    """

    model_id: str = Field(min_length=1, max_length=64)
    kind: WorkloadKind = "model"
    generation: int = Field(ge=1)
    replicas: int = Field(ge=0, le=32)
    node_labels: dict[str, str] = Field(default_factory=dict)
    blob_key: str = Field(default="", description="where the model zip is in the artifact store")
    python: str = Field(default="", description="the Python version the package asks for, if any")
    requirements: list[str] = Field(default_factory=list)
    resources: Resources = Resources()
    purge: bool = Field(default=False, description="app (0 replicas): the instance is deleted, drop its data")
    replace: list[str] = Field(
        default_factory=list,
        description="healing: replicas (workload ids) to stop without waiting and start again elsewhere",
    )
    avoid_nodes: list[str] = Field(default_factory=list, description="healing: nodes found lost")
    give_up: str = Field(
        default="", description="healing: the restart budget is spent; take `replace` out and fail with this"
    )
    prepare: bool = Field(
        default=False,
        description="app: only fetch and unpack the instance's package and resolve its wheels ahead of a "
        "start (a booked window's lead time); nothing starts and no deployment state changes",
    )


@contract("deployments-event", topic=topics.DEPLOY_EVENTS)
class DeploymentEvent(Message):
    """Progress of a deployment: a stage, what happened, and on failure the workload's last log lines."""

    model_id: str
    generation: int
    stage: Stage
    message: str
    logs: list[str] = Field(default_factory=list)


class WorkloadStatus(BaseModel):
    """One workload as its node agent sees it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    workload_id: str
    model_id: str
    generation: int
    state: WorkloadState
    endpoint: str = ""
    process: ProcessState = Field(default="running", description="what the runtime sees of its process")
    probe_ok: bool = Field(default=True, description="its readiness probe passed when the report was made")


@contract("nodes-status", topic=topics.NODE_STATUS)
class NodeStatus(SignedMessage):
    """A node agent's periodic report of its load, capacity, labels and workloads, signed by the node."""

    node_id: str = Field(min_length=1, max_length=64)
    runtime: Literal["process", "docker"]
    labels: dict[str, str] = Field(default_factory=dict)
    cpu_percent: float = Field(ge=0, le=100)
    memory_percent: float = Field(ge=0, le=100)
    cpu_count: float = Field(gt=0)
    memory_mb: int = Field(gt=0)
    max_workloads: int = Field(ge=0)
    workloads: list[WorkloadStatus] = Field(default_factory=list)
    at: datetime


@contract("placement-request", topic=topics.PLACEMENT)
class PlacementRequest(Message):
    """The deployer asking the node manager for nodes for `replicas` replicas."""

    request_id: str
    model_id: str
    replicas: int = Field(ge=1, le=32)
    node_labels: dict[str, str] = Field(default_factory=dict)
    resources: Resources = Resources()
    exclude_nodes: list[str] = Field(default_factory=list)
    occupied: dict[str, int] = Field(default_factory=dict, description="replicas already on each node")
    prefer_nodes: list[str] = Field(
        default_factory=list, description="nodes of the replicas being replaced, where their warm spares wait"
    )


@contract("placement-decision", topic=topics.PLACEMENT)
class PlacementDecision(Message):
    """The node manager's answer: one node id per replica, or why none fits."""

    request_id: str
    model_id: str
    nodes: list[str] = Field(default_factory=list)
    runtimes: dict[str, str] = Field(default_factory=dict)
    error: str = ""


@contract("node-commands-command", topic=topics.NODE_COMMANDS)
class NodeCommand(SignedMessage):
    """A start/stop/restart order for one node, Ed25519-signed by the control plane, with an expiry.

    "purge" drops the data a deleted app instance (`model_id`) left on the node: its database.
    """

    cmd_id: str
    node_id: str
    action: Literal["start", "stop", "restart", "purge"]
    model_id: str
    workload_id: str
    generation: int = Field(ge=1)
    issued_at: datetime
    expires_at: datetime
    spec: WorkloadSpec | None = None
    replacing: bool = Field(
        default=False,
        description="stop: the replica is being replaced; its node keeps the model's warm spare a while",
    )


@contract("workloads-event", topic=topics.WORKLOAD_EVENTS)
class WorkloadEvent(SignedMessage):
    """A workload changed state on a node, signed by that node; failures carry the last log lines."""

    node_id: str
    workload_id: str
    model_id: str
    generation: int
    state: WorkloadState
    endpoint: str = ""
    message: str = ""
    logs: list[str] = Field(default_factory=list)
