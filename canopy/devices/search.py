"""Finding devices by a free-text filter, a page at a time, with counts per location (for long lists)."""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select, true
from sqlalchemy.orm import Session

from canopy.devices.instances import normalise_path
from canopy.devices.models import Device, DeviceType


@dataclass(frozen=True)
class FoundDevices:
    """One page of the devices a filter matches, each with its type's kind, out of `total`."""

    devices: list[tuple[Device, str]]
    total: int


def matching(text: str) -> ColumnElement[bool]:
    """Devices whose id or type contains `text`, or whose location path starts with it (normalised)."""
    text = text.strip()
    if not text:
        return true()
    conditions = [
        Device.id.contains(text.lower(), autoescape=True),
        func.lower(Device.type_name).contains(text.lower(), autoescape=True),
    ]
    with contextlib.suppress(ValueError):
        conditions.append(Device.location_path.startswith(normalise_path(text), autoescape=True))
    return or_(*conditions)


def search_devices(session: Session, text: str, offset: int, limit: int) -> FoundDevices:
    """The devices `text` matches, by location then id, LIMIT/OFFSET in SQL, and how many match in all."""
    where = matching(text)
    total = session.scalar(select(func.count()).select_from(Device).where(where)) or 0
    query = (
        select(Device, DeviceType.kind)
        .join(DeviceType, Device.type_name == DeviceType.name)
        .where(where)
        .order_by(Device.location_path, Device.id)
        .offset(offset)
        .limit(limit)
    )
    return FoundDevices([(device, kind) for device, kind in session.execute(query)], int(total))


def counts_within(session: Session, text: str) -> dict[str, int]:
    """How many devices `text` matches at or under each location (every ancestor path included)."""
    grouped = session.execute(
        select(Device.location_path, func.count()).where(matching(text)).group_by(Device.location_path)
    )
    counts: Counter[str] = Counter()
    for path, count in grouped:
        segments = str(path).split("/")
        for depth in range(1, len(segments) + 1):
            counts["/".join(segments[:depth])] += int(count)
    return dict(counts)
