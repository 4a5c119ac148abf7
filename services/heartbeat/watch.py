"""Feed the detectors from node reports, heartbeats and deployment events; turn verdicts into heals."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, select

from canopy.bus.base import Record
from canopy.bus.typed import publish
from canopy.contracts import Envelope, Heartbeat
from canopy.contracts.deploy import DeploymentEvent, NodeStatus, WorkloadStatus
from canopy.deployments.records import current_generation
from canopy.deployments.tables import Deployment, Replica
from canopy.ed25519 import Ed25519PrivateKey
from canopy.healing.liveness import Detector, Timeouts, service_missing
from canopy.nodes.enrolment import status_refused
from canopy.runtime.backends import Backends
from canopy.workloads.commands import node_command
from canopy.workloads.runtime import MODEL_PROBE, Prober
from services.heartbeat.healer import Healer
from services.heartbeat.settings import HealSettings

log = logging.getLogger(__name__)

FENCE_REPEAT = 10.0  # seconds before a stale replica's stop order is sent again
PROBE_TIMEOUT = 1.0
FORGET_AFTER = 300.0  # seconds after which a replica nobody reports any more is no longer watched
_REGISTERED = select(Replica.workload_id, Replica.node_id, Replica.endpoint, Replica.state).where(
    Replica.workload_id.in_(bindparam("ids", expanding=True))
)


@dataclass(frozen=True)
class _Watched:
    """Which workload and node a watched replica belongs to."""

    model_id: str
    generation: int
    node_id: str
    endpoint: str


class Watcher:
    """Keeps the replica, node and service detectors current, and hands confirmed failures to the healer."""

    def __init__(
        self,
        backends: Backends,
        settings: HealSettings,
        key: Ed25519PrivateKey,
        healer: Healer,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backends = backends
        self.settings = settings
        self.key = key
        self.healer = healer
        self.clock = clock
        self.replicas = Detector(settings.replica)
        self.nodes = Detector(Timeouts(silence=settings.node_timeout, hang=math.inf))
        self.watched: dict[str, _Watched] = {}
        self.handed_over: dict[str, str] = {}  # replica -> node, while it is being replaced
        self.fenced: dict[str, float] = {}
        self.services: dict[str, tuple[float, float, str]] = {}
        self.reported: set[str] = set()
        self._probes = Prober()
        self._lock = threading.Lock()

    def on_status(self, envelope: Envelope, _record: Record) -> None:
        """A node's report: the node is alive; each of its registered replicas is observed, others fenced."""
        status = envelope.message
        if not isinstance(status, NodeStatus):
            return
        ids = [w.workload_id for w in status.workloads]
        with self.backends.store.engine.begin() as connection:  # Core statements: this runs every second
            if status_refused(connection, status) is not None:
                return  # the node manager logs refused reports
            registry = (
                {r.workload_id: r for r in connection.execute(_REGISTERED, {"ids": ids})} if ids else {}
            )
        stale = [
            w
            for w in status.workloads
            if w.state != "stopped"
            and (w.workload_id not in registry or registry[w.workload_id].node_id != status.node_id)
        ]
        watched = [
            (w, registry[w.workload_id].endpoint)
            for w in status.workloads
            if w.workload_id in registry
            and registry[w.workload_id].state in ("ready", "failed")
            and w.state != "stopped"  # being stopped on purpose
        ]
        now = self.clock()
        with self._lock:
            self.nodes.beat(status.node_id, now)
            gone = [w for w, node in self.handed_over.items() if node == status.node_id and w not in ids]
            for workload_id in gone:
                del self.handed_over[workload_id]
            for workload, endpoint in watched:
                self._observe(workload, status.node_id, endpoint, now)
        for workload in stale:
            self._fence(status.node_id, workload, now)

    def _observe(self, workload: WorkloadStatus, node_id: str, endpoint: str, now: float) -> None:
        """Feed one replica's process state and probe to its detector (not once it is being replaced)."""
        if workload.workload_id in self.handed_over:
            return
        where = _Watched(workload.model_id, workload.generation, node_id, endpoint)
        self.watched[workload.workload_id] = where
        probe_ok = workload.probe_ok and workload.state == "ready"
        self.replicas.observe(workload.workload_id, now, workload.process, probe_ok)

    def _fence(self, node_id: str, workload: WorkloadStatus, now: float) -> None:
        """Order a node to stop a replica it runs that the registry no longer has there."""
        if now - self.fenced.get(workload.workload_id, -math.inf) < FENCE_REPEAT:
            return
        self.fenced[workload.workload_id] = now
        with self.backends.store.session() as session:
            generation = max(workload.generation, current_generation(session, workload.model_id))
        log.warning(
            "node %s runs %s of %s g%d, which is no longer its replica: ordering it to stop",
            node_id,
            workload.workload_id,
            workload.model_id,
            workload.generation,
        )
        command = node_command(
            self.key, node_id, "stop", workload.model_id, workload.workload_id, generation, datetime.now(UTC)
        )
        publish(self.backends.bus, command, key=node_id)
        self.backends.bus.flush()

    def on_heartbeat(self, envelope: Envelope, _record: Record) -> None:
        """A platform service instance's beat."""
        beat = envelope.message
        if isinstance(beat, Heartbeat):
            with self._lock:
                self.services[beat.instance] = (self.clock(), beat.interval, beat.service)
                if beat.instance in self.reported:
                    self.reported.discard(beat.instance)
                    log.warning("service instance %s beats again", beat.instance)

    def on_deployment(self, envelope: Envelope, _record: Record) -> None:
        """A deployment that failed (a replica crashing at start, say) is queued to be tried again."""
        event = envelope.message
        if not isinstance(event, DeploymentEvent) or event.stage != "failed":
            return
        with self.backends.store.session() as session:
            deployment = session.get(Deployment, event.model_id)
            wanted = deployment is not None and deployment.generation == event.generation
            if not wanted or deployment is None or deployment.desired_replicas == 0:
                return
        self.healer.queue(event.model_id, event.generation, f"the deployment failed: {event.message}")

    def tick(self) -> None:
        """Act on every confirmed failure of a replica, a node or a service."""
        now = self.clock()
        self._check_replicas(now)
        self._check_nodes(now)
        self._check_services(now)

    def _check_replicas(self, now: float) -> None:
        """Hand crashed and hung replicas to the healer."""
        self._probe_exited(now)
        with self._lock:
            for wid in self.replicas.subjects():
                if self.replicas.silent_for(wid, now) > FORGET_AFTER:  # stopped on purpose, or its node lost
                    self.replicas.forget(wid)
                    self.watched.pop(wid, None)
            verdicts = {wid: self.replicas.verdict(wid, now) for wid in self.replicas.subjects()}
            dead = {wid: v for wid, v in verdicts.items() if v in ("crashed", "hung")}
            found = [(wid, self.watched.pop(wid), verdict) for wid, verdict in dead.items()]
            for wid, where, _ in found:
                self.replicas.forget(wid)
                self.handed_over[wid] = where.node_id
        for wid, where, verdict in found:
            reason = f"replica {wid} on node {where.node_id} {verdict}"
            self.healer.queue(where.model_id, where.generation, reason, frozenset({wid}))

    def _probe_exited(self, now: float) -> None:
        """Probe the endpoints of replicas their agent saw exit: a failed probe confirms the crash at once."""
        with self._lock:
            exited = [
                (wid, self.watched[wid].endpoint)
                for wid in self.replicas.exited_unconfirmed()
                if wid in self.watched and self.watched[wid].endpoint
            ]
        for wid, endpoint in exited:
            failed = not self._probes.answers(endpoint, MODEL_PROBE, PROBE_TIMEOUT)
            with self._lock:
                if wid in self.watched:
                    self.replicas.unreachable(wid, now, failed)

    def _check_nodes(self, now: float) -> None:
        """Probe the replicas of silent nodes; a node whose replicas do not answer either is lost."""
        with self._lock:
            silent = [
                n for n in self.nodes.subjects() if self.nodes.silent_for(n, now) > self.settings.node_timeout
            ]
        for node_id in silent:
            with self.backends.store.session() as session:
                on_node = list(session.scalars(select(Replica).where(Replica.node_id == node_id)))
                replicas = [(r.workload_id, r.model_id, r.generation, r.endpoint) for r in on_node]
            answering = any(
                self._probes.answers(endpoint, MODEL_PROBE, PROBE_TIMEOUT)
                for _, _, _, endpoint in replicas
                if endpoint
            )
            with self._lock:
                self.nodes.unreachable(node_id, now, not answering)
                if self.nodes.verdict(node_id, now) != "lost":
                    continue
                self.nodes.forget(node_id)
                for wid, _, _, _ in replicas:
                    self.handed_over[wid] = node_id
                    self.replicas.forget(wid)
                    self.watched.pop(wid, None)
            log.error("node %s is lost: silent and its %d replica(s) do not answer", node_id, len(replicas))
            for wid, model_id, generation, _ in replicas:
                reason = f"replica {wid} was on node {node_id}, which is lost"
                self.healer.queue(model_id, generation, reason, frozenset({wid}), frozenset({node_id}))

    def _check_services(self, now: float) -> None:
        """Report once each service instance that missed CANOPY_HEAL_SERVICE_TIMEOUT heartbeat intervals."""
        with self._lock:
            silent = [
                (instance, service, now - seen)
                for instance, (seen, interval, service) in self.services.items()
                if service_missing(now - seen, interval, self.settings.service_misses)
                and instance not in self.reported
            ]
            self.reported |= {instance for instance, _, _ in silent}
        for instance, service, quiet in silent:
            log.error("service %s (instance %s) sent no heartbeat for %.1f s", service, instance, quiet)
