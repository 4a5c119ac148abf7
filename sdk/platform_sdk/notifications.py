"""Notifications from an app: POST /api/v1/notifications publishes a notification request on the bus.

Delivery (e-mail) is the notifier's job; the gateway rate-limits each instance (429 beyond 10 a minute)
and refuses a subject with a line break or a `to` that is not one plain address (400).
"""

from __future__ import annotations

from typing import Any

from platform_sdk._client import ApiClient, shared_client


def notify(subject: str, body: str, to: str | None = None, client: ApiClient | None = None) -> Any:
    """Ask the platform to notify `to` (None: the instance's end user) with a subject and a body."""
    api = client or shared_client()
    return api.post("/api/v1/notifications", json={"subject": subject, "body": body, "to": to})


def send_email_notification(email: str, subject: str, body: str, client: ApiClient | None = None) -> Any:
    """The original platform's call: notify the address `email`."""
    return notify(subject, body, to=email, client=client)
