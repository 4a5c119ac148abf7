"""Hand replies arriving on the bus (placement decisions, workload events) to the threads awaiting them."""

from __future__ import annotations

import logging
import queue
import threading

from sqlalchemy.orm import Session

from canopy.apps.records import AppInstance
from canopy.bus.base import Record
from canopy.contracts import Envelope, Message
from canopy.contracts.deploy import PlacementDecision, WorkloadEvent
from canopy.deployments.records import current_generation, record_event
from canopy.deployments.tables import Replica
from canopy.nodes.enrolment import enrolled
from canopy.nodes.trust import SentCommand, event_refusal
from canopy.store import Store
from canopy.store.models import utcnow

log = logging.getLogger(__name__)


class Replies:
    """A registry of waiters keyed by placement request id or workload id."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._waiters: dict[str, queue.Queue[Message]] = {}
        self._lock = threading.Lock()

    def expect(self, key: str) -> queue.Queue[Message]:
        """Register interest in replies for `key`; call before sending the request."""
        with self._lock:
            return self._waiters.setdefault(key, queue.Queue())

    def forget(self, key: str) -> None:
        """Stop waiting for `key`."""
        with self._lock:
            self._waiters.pop(key, None)

    def on_reply(self, envelope: Envelope, _record: Record) -> None:
        """Deliver a reply to its waiter; note replicas that died after they were ready."""
        message = envelope.message
        if isinstance(message, PlacementDecision):
            key = message.request_id
        elif isinstance(message, WorkloadEvent):
            refused = self._refusal(message)
            if refused is not None:
                log.warning("refused a workload event of %s: %s", message.workload_id, refused)
                return
            key = message.workload_id
            if message.state in ("failed", "stopped"):
                self._mark_failed(message)
        else:
            return
        with self._lock:
            waiter = self._waiters.get(key)
        if waiter is not None:
            waiter.put(message)

    def _refusal(self, event: WorkloadEvent) -> str | None:
        """Why a workload event is not to be believed: not signed by the node told to run it, or None."""
        with self.store.session() as session:
            replica = session.get(Replica, event.workload_id)
            sent = (
                None
                if replica is None
                else SentCommand(replica.node_id, replica.model_id, replica.generation)
            )
            return event_refusal(event, enrolled(session, event.node_id), sent)

    def _mark_failed(self, event: WorkloadEvent) -> None:
        """Take a replica that died after being ready out of the endpoints; an app that exits fails."""
        with self.store.session() as session:
            replica = session.get(Replica, event.workload_id)
            if replica is not None and replica.state == "ready":
                log.warning(
                    "replica %s of %s on %s died: %s",
                    event.workload_id,
                    event.model_id,
                    event.node_id,
                    event.message,
                )
                replica.state, replica.updated_at = "failed", utcnow()
                if _app_gone_unasked(session, replica):
                    # An app runs until stopped: one that exits is a failed deployment, with its logs.
                    message = f"the app stopped running on node {event.node_id}: {event.message}"
                    record_event(session, replica.model_id, replica.generation, "failed", message, event.logs)


def _app_gone_unasked(session: Session, replica: Replica) -> bool:
    """Whether the replica is an app's that no newer request (a stop, a restart) explains the end of."""
    is_app = session.get(AppInstance, replica.model_id) is not None
    return is_app and current_generation(session, replica.model_id) == replica.generation
