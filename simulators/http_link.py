"""A simulated device on the http transport: readings posted to the REST API (requests loads only for it)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import requests

log = logging.getLogger(__name__)


class HttpLink:
    """A device posting readings to POST /api/v1/devices/<id>/telemetry with its own credential."""

    def __init__(self, api_url: str, device_id: str, token: str) -> None:
        self.url = f"{api_url.rstrip('/')}/api/v1/devices/{device_id}/telemetry"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def send(self, reading: dict[str, Any], at: datetime, seq: int) -> None:
        """Post one reading; failures are logged and the reading is dropped."""
        try:
            response = self.session.post(
                self.url, json={"reading": reading, "at": at.isoformat(), "seq": seq}, timeout=10
            )
            if response.status_code >= 400:
                log.warning("%s refused a reading: %s", self.url, response.text[:200])
        except requests.RequestException as exc:
            log.warning("cannot post to %s: %s", self.url, exc)

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()
