"""Notifications app instances ask for: validated, rate-limited per instance, published for the notifier."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, jsonify
from pydantic import ValidationError

from canopy.apps import instances
from canopy.bus.typed import publish
from canopy.contracts.notifications import NotificationRequest
from canopy.errors import TooManyRequests, ValidationFailed
from canopy.mail.addresses import check_header_text, check_recipient
from canopy.ratelimit import WindowCounter
from canopy.roles import Role
from services.gateway.access import allow, current_principal
from services.gateway.context import gateway_context
from services.gateway.views.helpers import json_body

blueprint = Blueprint("notifications", __name__, url_prefix="/api/v1")
PER_MINUTE = 10
FIELDS = ("subject", "body", "to")


def _limiter() -> WindowCounter:
    """The app's per-instance sliding window of sent notifications (a bounded counter)."""
    limiter: WindowCounter | None = current_app.extensions.get("canopy-notification-limit")
    if limiter is None:
        limiter = WindowCounter({"instance": PER_MINUTE}, window=60.0)
        current_app.extensions["canopy-notification-limit"] = limiter
    return limiter


@blueprint.post("/notifications")
@allow(Role.WORKLOAD)
def request_notification() -> tuple[Response, int]:
    """Publish {"subject", "body", "to"} as a notification request of the calling instance (202).

    The subject must be one line and `to`, if given, one address in CANOPY_MAIL_RECIPIENT_DOMAINS (400).
    """
    body = json_body()
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise ValidationFailed(
            f"unknown fields: {', '.join(unknown)}; send subject, body and optionally to",
            details={name: "unknown" for name in unknown},
        )
    principal = current_principal()
    instance_id = principal.instance_id or ""
    limiter, keys = _limiter(), [("instance", instance_id)]
    wait = limiter.retry_after(keys)
    if wait > 0:
        raise TooManyRequests(
            f"instance {instance_id} sent {PER_MINUTE} notifications in the last minute; "
            f"retry in {wait:.0f} s",
            details={"retry_after": round(wait, 1)},
        )
    with gateway_context().backends.store.session() as session:
        instance = instances.get_instance(session, instance_id)
        user, app_id = (instance.owner.name if instance.owner else None), instance.app_id
    try:
        message = NotificationRequest.model_validate(
            {
                **{name: body.get(name) for name in FIELDS},
                "body": body.get("body", ""),
                "instance_id": instance_id,
                "app_id": app_id,
                "user": user,
                "requested_at": datetime.now(UTC),
            }
        )
    except ValidationError as exc:
        problems = {str(error["loc"][0]): error["msg"] for error in exc.errors() if error["loc"]}
        raise ValidationFailed(f"invalid notification: {problems}", details=problems) from None
    check_header_text("subject", message.subject)
    if message.to is not None:
        check_recipient(message.to, gateway_context().backends.config.mail_recipient_domains)
    limiter.record(keys)
    bus = gateway_context().backends.bus
    publish(bus, message, key=instance_id)
    bus.flush()
    return jsonify({"accepted": True, "instance_id": instance_id}), 202
