"""Alerts of the heartbeat service: an ERROR log record and a mail to the workload's owner or the admin."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from canopy.apps.records import AppInstance
from canopy.bus import Bus
from canopy.bus.typed import publish
from canopy.contracts.notifications import NotificationRequest
from canopy.models.records import ModelRecord
from canopy.store import Store

log = logging.getLogger(__name__)

SENDER = "canopy-heartbeat"


def owner_of(store: Store, model_id: str) -> str | None:
    """The name of the user a model or app instance belongs to, if any."""
    with store.session() as session:
        found = session.get(AppInstance, model_id) or session.get(ModelRecord, model_id)
        owner = None if found is None else found.owner
        return None if owner is None else owner.name


class Alerts:
    """Raises an alert: logged at ERROR, and mailed through the notifier."""

    def __init__(self, bus: Bus, store: Store, alert_to: str) -> None:
        self.bus = bus
        self.store = store
        self.alert_to = alert_to or None

    def raise_alert(self, model_id: str, subject: str, body: str) -> None:
        """Log the alert and ask the notifier to mail it to CANOPY_HEAL_ALERT_TO or the owner."""
        log.error("%s: %s", subject, body)
        owner = owner_of(self.store, model_id)
        if owner is None and self.alert_to is None:
            log.error("nobody to mail the alert about %s to: set CANOPY_HEAL_ALERT_TO", model_id)
            return
        request = NotificationRequest(
            instance_id=model_id,
            app_id=SENDER,
            user=owner,
            subject=subject,
            body=body,
            to=self.alert_to,
            requested_at=datetime.now(UTC),
        )
        publish(self.bus, request, key=model_id)
        self.bus.flush()
