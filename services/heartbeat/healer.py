"""Heal what the detectors confirm dead: replace crashed and hung replicas and a lost node's replicas.

Replacing goes through the deployer: the heartbeat service re-publishes the deployment's current
request with the replicas to replace (and the lost nodes to avoid); the deployer takes them out of
the endpoints at once, orders their nodes to stop them and starts new ones where placement says.
Restarts are paced per workload (exponential backoff) and budgeted; when the budget is spent the
deployer marks the deployment failed and an alert goes out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from canopy.bus.typed import publish
from canopy.contracts.deploy import DeployRequest
from canopy.deployments.records import desired_request
from canopy.deployments.tables import Deployment
from canopy.healing.restarts import RestartPacer
from canopy.runtime.backends import Backends
from services.heartbeat.alerts import Alerts
from services.heartbeat.settings import HealSettings

log = logging.getLogger(__name__)


@dataclass
class Heal:
    """A pending restart of one workload: the replicas to replace, the nodes to avoid, and why."""

    generation: int
    replace: set[str] = field(default_factory=set)
    avoid: set[str] = field(default_factory=set)
    reasons: list[str] = field(default_factory=list)


class Healer:
    """Queues heals, then issues each when its backoff allows, or gives up with an alert."""

    def __init__(
        self, backends: Backends, settings: HealSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.backends = backends
        self.clock = clock
        self.pacer = RestartPacer(settings.budget)
        self.alerts = Alerts(backends.bus, backends.store, settings.alert_to)
        self.pending: dict[str, Heal] = {}
        self.given_up: set[tuple[str, int]] = set()
        self.issued = 0
        self._lock = threading.Lock()

    def queue(
        self,
        model_id: str,
        generation: int,
        reason: str,
        replace: frozenset[str] = frozenset(),
        avoid: frozenset[str] = frozenset(),
    ) -> None:
        """Ask for a workload to be healed (merged with a heal already pending for it)."""
        with self._lock:
            if (model_id, generation) in self.given_up:
                return
            heal = self.pending.setdefault(model_id, Heal(generation))
            heal.generation = max(heal.generation, generation)
            heal.replace |= replace
            heal.avoid |= avoid
            heal.reasons.append(reason)
        log.warning("healing %s: %s", model_id, reason)

    def tick(self) -> None:
        """Issue every pending heal whose backoff has passed; give up on those over budget."""
        now = self.clock()
        with self._lock:
            due = [m for m in self.pending if self.pacer.delay(m, now) == 0.0]
            heals = {m: self.pending.pop(m) for m in due}
        for model_id, heal in heals.items():
            if self.pacer.spent(model_id, now):
                self._give_up(model_id, heal)
                continue
            if self._request(model_id, heal, ""):
                self.pacer.record(model_id, now)
                self.issued += 1

    def _give_up(self, model_id: str, heal: Heal) -> None:
        """Take the replicas out, have the deployment marked failed, and raise the alert."""
        budget = self.pacer.budget
        why = "; ".join(dict.fromkeys(heal.reasons))
        message = (
            f"gave up healing after {budget.restarts} restarts within {budget.window:.0f} s "
            f"(CANOPY_HEAL_RESTARTS, CANOPY_HEAL_WINDOW): {why}"
        )
        with self._lock:
            self.given_up.add((model_id, heal.generation))
        if self._request(model_id, heal, message):
            self.alerts.raise_alert(
                model_id, f"Canopy: {model_id} failed and is no longer restarted", message
            )

    def _request(self, model_id: str, heal: Heal, give_up: str) -> bool:
        """Publish the deployment's current request with the heal's changes; False when none is wanted."""
        with self.backends.store.session() as session:
            deployment = session.get(Deployment, model_id)
            if deployment is None or deployment.desired_replicas == 0:
                return False
            if deployment.generation != heal.generation and not heal.replace:
                return False  # a newer request replaced the one that failed
            request: DeployRequest = desired_request(session, deployment).model_copy(
                update={
                    "replace": sorted(heal.replace),
                    "avoid_nodes": sorted(heal.avoid),
                    "give_up": give_up,
                }
            )
        publish(self.backends.bus, request, key=model_id)
        self.backends.bus.flush()
        log.info("asked the deployer to heal %s g%d: %s", model_id, request.generation, heal.reasons[-1])
        return True
