"""One deployment, start to finish: build, place, start, verify, register; or report why it failed."""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from canopy.apps.deploying import APP_ROOT_MARKERS
from canopy.bus.typed import publish
from canopy.contracts import Message
from canopy.contracts.deploy import (
    DeploymentEvent,
    DeployRequest,
    PlacementDecision,
    PlacementRequest,
    Stage,
    WorkloadEvent,
    WorkloadSpec,
)
from canopy.deployments.records import (
    current_generation,
    live_endpoints,
    record_event,
    remove_replicas,
    replicas_of,
)
from canopy.deployments.tables import Node, Replica
from canopy.ed25519 import Ed25519PrivateKey
from canopy.errors import CanopyError, StoreUnavailable
from canopy.models.records import ModelRecord
from canopy.runtime.backends import Backends
from canopy.store.models import utcnow
from canopy.workloads.builder import (
    Package,
    build_process_env,
    deps_image,
    python_candidates,
    shared_sdk,
    unpack,
)
from canopy.workloads.commands import node_command
from canopy.workloads.runtime import Probe, Prober, probe_for
from canopy.workloads.wheels import choose_python
from services.deployer.ahead import Ahead, AheadStarts
from services.deployer.apps import prepared_app, start_app, with_app
from services.deployer.replies import Replies

log = logging.getLogger(__name__)

PLACEMENT_TIMEOUT = 15.0
NODE_WAIT = 30.0  # how long a deployment waits for a node to report or free up before it fails
NODE_RETRY = 2.0
START_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0


class DeployFailed(Exception):
    """A deployment failed; carries the workload's last log lines."""

    def __init__(self, message: str, logs: list[str] | None = None) -> None:
        super().__init__(message)
        self.logs = logs or []


class NoFitYet(Exception):
    """The node manager found no node for the replicas this time."""


@dataclass
class Deployer:
    """Runs deploy requests, one model at a time per model."""

    backends: Backends
    replies: Replies
    key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        """Per-model locks, so requests for one model run in order; starts prepared ahead."""
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.ahead = AheadStarts()

    def handle(self, request: DeployRequest) -> None:
        """Bring the model to the requested replica count (or prepare its start), reporting progress."""
        with self._guard:
            lock = self._locks.setdefault(request.model_id, threading.Lock())
        with lock:
            if request.prepare:
                self.prepare(request)
                return
            with self.backends.store.session() as session:
                if request.generation != current_generation(session, request.model_id):
                    log.info(
                        "skipping generation %d of %s: superseded or unknown",
                        request.generation,
                        request.model_id,
                    )
                    return
            try:
                self._converge(request)
            except DeployFailed as exc:
                self.event(request, "failed", str(exc), exc.logs)
            except StoreUnavailable:
                raise  # not the request's failure: it is carried out once the database is back
            except CanopyError as exc:
                self.event(request, "failed", exc.message)
            except Exception as exc:
                log.exception("deployment of %s failed", request.model_id)
                self.event(request, "failed", f"internal error: {exc}")

    def _converge(self, request: DeployRequest) -> None:
        """Stop surplus replicas, then place, build and start the missing ones."""
        with self.backends.store.session() as session:
            existing = [(r.workload_id, r.node_id, r.state) for r in replicas_of(session, request.model_id)]
        replaced = [(wid, node) for wid, node, _ in existing if wid in request.replace]
        if replaced:
            self.event(request, "starting", f"replacing {', '.join(wid for wid, _ in replaced)}")
            self.abandon_replicas(request, replaced)
            existing = [r for r in existing if r[0] not in request.replace]
        if request.give_up:
            self.event(request, "failed", request.give_up)
            return
        keep = [r for r in existing if r[2] == "ready"][: request.replicas]
        surplus = [r for r in existing if r not in keep]
        if surplus:
            self.event(request, "stopping", f"stopping {len(surplus)} replica(s)")
            self.stop_replicas(request, [(wid, node) for wid, node, _ in surplus])
        if request.replicas == 0:
            self.event(request, "stopped", "every replica is stopped and removed")
            if request.purge:
                self.purge(request)
            return
        missing = request.replicas - len(keep)
        ahead = self.ahead.take(request.model_id, self.backends.store, utcnow()) if missing > 0 else None
        if ahead is not None and not keep and len(ahead.decision.nodes) == missing:
            workload = start_app(self.backends.store, request.model_id)
            self.event(request, "placing", f"placed and built ahead on {', '.join(ahead.decision.nodes)}")
            specs = {rt: with_app(spec, workload) for rt, spec in ahead.specs.items()}
            self.start_replicas(request, ahead.decision, specs)
        elif missing > 0:
            self.event(request, "building", "fetching the package and checking its digest")
            app = start_app(self.backends.store, request.model_id) if request.kind == "app" else None
            blob_key, sha256 = (app.blob_key, app.sha256) if app else self.stored_package(request.model_id)
            package = unpack(
                self.backends.blob,
                blob_key,
                sha256,
                app.app_id if app else request.model_id,
                self.backends.config.home,
                request.requirements,
                request.python,
                APP_ROOT_MARKERS if app else None,
            )
            self.event(request, "placing", f"asking the node manager for {missing} node(s)")
            occupied: dict[str, int] = {}
            for _, node_id, _ in keep:
                occupied[node_id] = occupied.get(node_id, 0) + 1
            prefer = [node for _, node in replaced if node not in request.avoid_nodes]
            decision = self.place(request, missing, occupied, prefer)
            runtimes = sorted(set(decision.runtimes.values()))
            specs = {rt: with_app(self.build(request, package, rt), app) for rt in runtimes}
            self.start_replicas(request, decision, specs)
        with self.backends.store.session() as session:
            endpoints = live_endpoints(session, request.model_id)
        self.event(request, "ready", f"{len(endpoints)} replica(s) ready: {', '.join(endpoints)}")

    def prepare(self, request: DeployRequest) -> None:
        """Place an app instance ahead of its start and build what its node's runtime starts there.

        Fetching, checking and unpacking the package, filling the wheel cache, asking the node manager
        for a node and building the virtualenv or image: a later start of the same instance finds them
        in `ahead` and only starts it. Failures are logged; the start then does the work again and
        reports them.
        """
        started = time.monotonic()
        try:
            app = prepared_app(self.backends.store, request.model_id)
            package = unpack(
                self.backends.blob,
                app.blob_key,
                app.sha256,
                app.app_id,
                self.backends.config.home,
                request.requirements,
                request.python,
                APP_ROOT_MARKERS,
            )
            home = self.backends.config.home
            choose_python(
                package.requirements, python_candidates(package.python), home / "wheels", private=home
            )
            decision = self.ask_placement(request, 1, {})
            specs = {rt: self.artefact(request, package, rt) for rt in set(decision.runtimes.values())}
        except Exception as exc:
            log.warning("preparing app instance %s failed (its start will retry): %s", request.model_id, exc)
            return
        self.ahead.keep(request.model_id, Ahead(decision, specs))
        log.info(
            "prepared app instance %s on %s in %.1f s",
            request.model_id,
            ", ".join(decision.nodes),
            time.monotonic() - started,
        )

    def purge(self, request: DeployRequest) -> None:
        """Tell every node known to the platform to drop the data the deleted instance left there."""
        with self.backends.store.session() as session:
            nodes = list(session.scalars(select(Node.node_id)))
        for node_id in nodes:
            self.command(request, node_id, "purge", f"{request.model_id[:40]}-purge", None)
        self.event(request, "stopped", f"asked {len(nodes)} node(s) to drop the instance's data")

    def stored_package(self, model_id: str) -> tuple[str, str]:
        """Where the model's package is stored and the digest recorded at upload, from the store."""
        with self.backends.store.session() as session:
            record = session.get(ModelRecord, model_id)
            if record is None:
                raise DeployFailed(f"model {model_id} no longer exists; upload it again")
            return record.blob_key, record.sha256

    def place(
        self, request: DeployRequest, replicas: int, occupied: dict[str, int], prefer: list[str]
    ) -> PlacementDecision:
        """Ask for nodes; while none fits, ask again for up to NODE_WAIT s (agents may still be joining)."""
        deadline, told = time.monotonic() + NODE_WAIT, False
        while True:
            try:
                return self.ask_placement(request, replicas, occupied, prefer)
            except NoFitYet as exc:
                if time.monotonic() + NODE_RETRY > deadline:
                    raise DeployFailed(f"no node fits: {exc}") from None
                if not told:
                    self.event(request, "placing", f"waiting up to {NODE_WAIT:.0f} s for a node: {exc}")
                    told = True
                time.sleep(NODE_RETRY)

    def ask_placement(
        self, request: DeployRequest, replicas: int, occupied: dict[str, int], prefer: list[str] | None = None
    ) -> PlacementDecision:
        """Ask the node manager for nodes once and wait for its decision."""
        placement = PlacementRequest(
            request_id=uuid.uuid4().hex,
            model_id=request.model_id,
            replicas=replicas,
            node_labels=request.node_labels,
            resources=request.resources,
            exclude_nodes=request.avoid_nodes,
            occupied=occupied,
            prefer_nodes=prefer or [],
        )
        answer = self._ask(placement.request_id, placement, PLACEMENT_TIMEOUT)
        if not isinstance(answer, PlacementDecision):
            raise DeployFailed(
                f"the node manager did not answer within {PLACEMENT_TIMEOUT:.0f} s; is it running?"
            )
        if answer.error:
            raise NoFitYet(answer.error)
        return answer

    def build(self, request: DeployRequest, package: Package, runtime: str) -> WorkloadSpec:
        """Build the artefact the runtime starts, telling the deployment's progress."""
        if runtime == "docker":
            self.event(request, "building", "finding or building the dependencies image")
        else:
            self.event(request, "building", "preparing the virtualenv in the sandbox root filesystem")
        return self.artefact(request, package, runtime)

    def artefact(self, request: DeployRequest, package: Package, runtime: str) -> WorkloadSpec:
        """Build what the runtime starts: a virtualenv, or an image (the package is bound at start)."""
        home, rootfs_cache = self.backends.config.home, Path(self.backends.config.rootfs_dir)
        if runtime == "docker":
            image = deps_image(package, home, rootfs_cache)
            return WorkloadSpec(
                model_id=request.model_id,
                runtime="docker",
                image=image,
                package_dir=str(package.directory),
                sdk_dir=str(shared_sdk(home)),
                resources=request.resources,
            )
        built = build_process_env(package, home, rootfs_cache)
        return WorkloadSpec(
            model_id=request.model_id,
            runtime="process",
            package_dir=str(package.directory),
            env_dir=str(built.env),
            sdk_dir=str(built.sdk),
            python=built.python,
            resources=request.resources,
        )

    def start_replicas(
        self, request: DeployRequest, decision: PlacementDecision, specs: dict[str, WorkloadSpec]
    ) -> None:
        """Start one replica per chosen node, wait for all, and undo them all if any fails."""
        started: list[tuple[str, str]] = []
        waiters: dict[str, queue.Queue[Message]] = {}
        for node_id in decision.nodes:
            workload_id = f"{request.model_id[:40]}-g{request.generation}-{uuid.uuid4().hex[:8]}"
            waiters[workload_id] = self.replies.expect(workload_id)
            with self.backends.store.session() as session:
                session.add(
                    Replica(
                        workload_id=workload_id,
                        model_id=request.model_id,
                        generation=request.generation,
                        node_id=node_id,
                    )
                )
            started.append((workload_id, node_id))
            self.event(request, "starting", f"starting {workload_id} on node {node_id}")
            self.command(request, node_id, "start", workload_id, specs[decision.runtimes[node_id]])
        try:
            for workload_id, node_id in started:
                spec = specs[decision.runtimes[node_id]]
                self._await_ready(request, workload_id, node_id, waiters[workload_id], probe_for(spec))
        except DeployFailed:
            self.stop_replicas(request, started)
            raise
        finally:
            for workload_id in waiters:
                self.replies.forget(workload_id)

    def _await_ready(
        self,
        request: DeployRequest,
        workload_id: str,
        node_id: str,
        waiter: queue.Queue[Message],
        probe: Probe,
    ) -> None:
        """Wait for the agent's verdict on one replica, check it answers (/health for models), register it."""
        deadline = datetime.now(UTC) + timedelta(seconds=START_TIMEOUT)
        while True:
            remaining = (deadline - datetime.now(UTC)).total_seconds()
            try:
                event = waiter.get(timeout=max(0.1, remaining))
            except queue.Empty:
                raise DeployFailed(
                    f"node {node_id} did not report {workload_id} within {START_TIMEOUT:.0f} s"
                ) from None
            if not isinstance(event, WorkloadEvent) or event.state == "starting":
                continue
            if event.state != "ready":
                raise DeployFailed(f"{workload_id} on node {node_id} failed: {event.message}", event.logs)
            if not Prober().answers(event.endpoint, probe):
                raise DeployFailed(f"{workload_id} said ready but {event.endpoint}{probe.path} fails")
            with self.backends.store.session() as session:
                replica = session.get(Replica, workload_id)
                if replica is not None:
                    replica.state, replica.endpoint, replica.updated_at = "ready", event.endpoint, utcnow()
            self.event(request, "starting", f"{workload_id} ready at {event.endpoint} on node {node_id}")
            return

    def stop_replicas(self, request: DeployRequest, replicas: list[tuple[str, str]]) -> None:
        """Tell each replica's node to stop it, wait briefly for confirmation, and forget it."""
        waiters = {wid: self.replies.expect(wid) for wid, _ in replicas}
        for workload_id, node_id in replicas:
            self.command(request, node_id, "stop", workload_id, None)
        deadline = datetime.now(UTC) + timedelta(seconds=STOP_TIMEOUT)
        for workload_id, waiter in waiters.items():
            while (remaining := (deadline - datetime.now(UTC)).total_seconds()) > 0:
                try:
                    event = waiter.get(timeout=remaining)
                except queue.Empty:
                    break
                if isinstance(event, WorkloadEvent) and event.state == "stopped":
                    break
            self.replies.forget(workload_id)
        with self.backends.store.session() as session:
            remove_replicas(session, [wid for wid, _ in replicas])

    def abandon_replicas(self, request: DeployRequest, replicas: list[tuple[str, str]]) -> None:
        """Drop replicas from the endpoints at once, then order their nodes to stop them."""
        with self.backends.store.session() as session:
            remove_replicas(session, [wid for wid, _ in replicas])
        for workload_id, node_id in replicas:
            self.command(request, node_id, "stop", workload_id, None, replacing=True)

    def command(
        self,
        request: DeployRequest,
        node_id: str,
        action: str,
        workload_id: str,
        spec: WorkloadSpec | None,
        replacing: bool = False,
    ) -> None:
        """Send a signed, expiring, generation-numbered command to one node."""
        now = datetime.now(UTC)
        command = node_command(
            self.key, node_id, action, request.model_id, workload_id, request.generation, now, spec, replacing
        )
        publish(self.backends.bus, command, key=node_id)
        self.backends.bus.flush()

    def _ask(self, key: str, message: Message, timeout: float) -> Message | None:
        """Publish a request and wait for the reply with the same key."""
        waiter = self.replies.expect(key)
        try:
            publish(self.backends.bus, message, key=message.model_id)  # type: ignore[attr-defined]
            self.backends.bus.flush()
            return waiter.get(timeout=timeout)
        except queue.Empty:
            return None
        finally:
            self.replies.forget(key)

    def event(
        self, request: DeployRequest, stage: Stage, message: str, logs: list[str] | None = None
    ) -> None:
        """Record a progress event in the store and publish it."""
        log.info("deployment %s g%d %s: %s", request.model_id, request.generation, stage, message)
        with self.backends.store.session() as session:
            record_event(session, request.model_id, request.generation, stage, message, logs)
        publish(
            self.backends.bus,
            DeploymentEvent(
                model_id=request.model_id,
                generation=request.generation,
                stage=stage,
                message=message,
                logs=logs or [],
            ),
            key=request.model_id,
        )
        self.backends.bus.flush()
