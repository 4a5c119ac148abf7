"""`canopy infra`: run Kafka, PostgreSQL, Azurite, Mosquitto, Docker and Mailpit locally; build FerretDB."""

from __future__ import annotations

from bootstrap.infra.base import ComponentStatus, InfraError
from bootstrap.infra.manager import NAMES
from bootstrap.infra.manager import down as _down
from bootstrap.infra.manager import status as _status
from bootstrap.infra.manager import up as _up

__all__ = ["NAMES", "ComponentStatus", "InfraError", "down", "status", "up"]


def up(names: list[str] | None = None) -> None:
    """Start the named components (all by default); returns once each one accepts requests."""
    _up(names)


def down(names: list[str] | None = None) -> None:
    """Stop the named components (all by default) that canopy started; others are left alone."""
    _down(names)


def status() -> list[ComponentStatus]:
    """Whether each component is up, its address and whether canopy started it."""
    return _status()
