"""Notification requests: an app instance asks for a message to be delivered (the notifier sends it)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from canopy.contracts import topics
from canopy.contracts.base import Message, contract

MAX_SUBJECT = 200
MAX_BODY = 10_000
MAX_ADDRESS = 320


@contract("notification-request", topic=topics.NOTIFICATIONS)
class NotificationRequest(Message):
    """A notification an app instance asked for; `to` empty means the user the instance runs for."""

    instance_id: str = Field(min_length=1, max_length=64)
    app_id: str = Field(min_length=1, max_length=64)
    user: str | None = Field(default=None, max_length=64, description="the user the instance runs for")
    subject: str = Field(min_length=1, max_length=MAX_SUBJECT)
    body: str = Field(max_length=MAX_BODY)
    to: str | None = Field(default=None, min_length=3, max_length=MAX_ADDRESS)
    requested_at: datetime
