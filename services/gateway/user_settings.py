"""A user's own settings: the IANA time zone bookings default to and the address the notifier mails."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from canopy.bookings.schedule import parse_zone
from canopy.errors import NotFound, ValidationFailed
from canopy.store.models import User

MAX_EMAIL = 320
_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")


def parse_email(raw: Any) -> str | None:
    """An address like name@example.org (None or "" clears it), or ValidationFailed on field email."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or len(raw) > MAX_EMAIL or _EMAIL.match(raw) is None:
        raise ValidationFailed(
            "email: expected an address like name@example.org", details={"email": "invalid"}
        )
    return raw


def settings_view(user: User) -> dict[str, Any]:
    """The settings a user sees and may change."""
    return {"user": user.name, "role": user.role, "timezone": user.timezone, "email": user.email}


def update_settings(session: Session, user_id: int, body: dict[str, Any]) -> User:
    """Apply {timezone?, email?} to the user, all or nothing."""
    unknown = sorted(set(body) - {"timezone", "email"})
    if unknown:
        raise ValidationFailed(
            f"unknown settings: {', '.join(unknown)}; accepted: timezone, email",
            details={name: "unknown" for name in unknown},
        )
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("your user no longer exists")
    timezone = user.timezone
    if "timezone" in body:
        raw = body["timezone"]
        timezone = parse_zone(raw if isinstance(raw, str) else "", "timezone").key
    email = parse_email(body["email"]) if "email" in body else user.email
    user.timezone, user.email = timezone, email
    session.flush()
    return user
