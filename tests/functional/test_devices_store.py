"""The device tables made by migration 0003_devices match the ORM models."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from canopy.devices.models import Device, DeviceType, Location
from canopy.runtime.backends import Backends
from canopy.store import Base

TABLES = {model.__tablename__ for model in (Device, DeviceType, Location)}


def _ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return table in TABLES


def test_device_tables_match_the_models(backends: Backends) -> None:
    with backends.store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": _ours})
        assert compare_metadata(context, Base.metadata) == []
