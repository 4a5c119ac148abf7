"""Latest values, refusal counters and commands in the platform store, with a batching writer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from canopy.contracts.devices import TelemetryReading
from canopy.devices.models import Device
from canopy.errors import NotFound
from canopy.store import Store
from canopy.store.models import utcnow
from canopy.store.upsert import newest_row_upsert
from canopy.telemetry.models import CommandRecord, LatestReading, RefusalCount


class StoredReading(NamedTuple):
    """A device's newest stored reading, as the latest-value table holds it."""

    device_id: str
    device_type: str
    reading: dict[str, Any]
    at: datetime
    seq: int | None
    source: str
    last_seen: datetime


_DEVICES, _LATEST_COLUMNS = Device.__table__.c, LatestReading.__table__.c
_REFUSAL_COLUMNS = RefusalCount.__table__.c
# built once: the reads of every latest-value request, as Core queries (no ORM objects)
_LATEST = select(*(_LATEST_COLUMNS[name] for name in StoredReading._fields)).where(
    _LATEST_COLUMNS.device_id == bindparam("device_id")
)
_DEVICE_LATEST = (
    select(_DEVICES.type_name, *_LATEST.selected_columns)
    .select_from(
        Device.__table__.outerjoin(LatestReading.__table__, _LATEST_COLUMNS.device_id == _DEVICES.id)
    )
    .where(_DEVICES.id == bindparam("device_id"))
)
_REFUSALS = select(_REFUSAL_COLUMNS.kind, _REFUSAL_COLUMNS.count).where(
    _REFUSAL_COLUMNS.device_id == bindparam("device_id")
)


def reading_view(row: StoredReading) -> dict[str, Any]:
    """The JSON form of a latest reading."""
    return {
        "device_id": row.device_id,
        "device_type": row.device_type,
        "reading": row.reading,
        "at": row.at.isoformat(),
        "seq": row.seq,
        "source": row.source,
        "last_seen": row.last_seen.isoformat(),
    }


def latest(session: Session, device_id: str) -> StoredReading | None:
    """The newest stored reading of a device, or None."""
    row = session.execute(_LATEST, {"device_id": device_id}).one_or_none()
    return StoredReading(*row) if row is not None else None


def device_latest(session: Session, device_id: str) -> tuple[str, StoredReading | None] | None:
    """A device's type and newest stored reading (None before its first) in one query; None: no device."""
    row = session.execute(_DEVICE_LATEST, {"device_id": device_id}).one_or_none()
    if row is None:
        return None
    type_name, *stored = row
    return type_name, StoredReading(*stored) if stored[0] is not None else None


def latest_of(session: Session, device_ids: Iterable[str]) -> dict[str, LatestReading]:
    """The newest stored reading of each of these devices that has one, by device id."""
    rows = session.scalars(select(LatestReading).where(LatestReading.device_id.in_(list(device_ids))))
    return {row.device_id: row for row in rows}


def refusals(session: Session, device_id: str) -> dict[str, int]:
    """Refused readings of a device, by kind."""
    return {kind: count for kind, count in session.execute(_REFUSALS, {"device_id": device_id})}


def add_refusals(session: Session, device_id: str, kind: str, reason: str, count: int = 1) -> None:
    """Add `count` refusals of `kind` to a device's counter (atomic increment; created on first use)."""
    values = {"count": RefusalCount.count + count, "last_reason": reason[:500], "updated_at": utcnow()}
    statement = update(RefusalCount).where(RefusalCount.device_id == device_id, RefusalCount.kind == kind)
    if session.execute(statement.values(values)).rowcount:  # type: ignore[attr-defined]
        return
    try:
        with session.begin_nested():
            session.add(RefusalCount(device_id=device_id, kind=kind, count=count, last_reason=reason[:500]))
    except IntegrityError:
        session.execute(statement.values(values))


def upsert_many(session: Session, readings: list[TelemetryReading]) -> None:
    """Keep each reading as its device's latest (unless a newer one is stored) in one statement."""
    if readings:
        statement = newest_row_upsert(session.get_bind().dialect.name, LatestReading.__table__, "at")
        session.execute(statement, [_row_values(reading) for reading in readings])


def _row_values(reading: TelemetryReading) -> dict[str, Any]:
    """The column values of a reading for the latest-value upsert."""
    return {
        "device_id": reading.device_id,
        "device_type": reading.device_type,
        "reading": reading.reading,
        "at": reading.at,
        "seq": reading.seq,
        "source": reading.source,
        "last_seen": reading.received_at,
    }


class LatestWriter:
    """Collects the newest reading per device and refusal counts in memory; flush() writes them.

    The thread that handles readings calls flush_if_due() after each one, so the write happens on
    that thread at most every `interval` seconds instead of competing with it from another thread.
    """

    def __init__(self, store: Store, interval: float = 1.0) -> None:
        self.store = store
        self.interval = interval
        self._flushed_at = 0.0
        self._latest: dict[str, TelemetryReading] = {}
        self._refused: dict[tuple[str, str], tuple[int, str]] = {}
        self._lock = threading.Lock()

    def keep(self, reading: TelemetryReading) -> None:
        """Remember a reading if it is the device's newest so far."""
        with self._lock:
            current = self._latest.get(reading.device_id)
            if current is None or reading.at >= current.at:
                self._latest[reading.device_id] = reading

    def refuse(self, device_id: str, kind: str, reason: str) -> None:
        """Count a refused reading."""
        with self._lock:
            count, _ = self._refused.get((device_id, kind), (0, ""))
            self._refused[(device_id, kind)] = (count + 1, reason)

    def flush_if_due(self, age: float | None = None) -> int:
        """Flush if the last flush is older than `age` seconds (default: the interval)."""
        if time.monotonic() - self._flushed_at < (self.interval if age is None else age):
            return 0
        return self.flush()

    def flush(self) -> int:
        """Write what was collected in one transaction; return how many rows were touched."""
        self._flushed_at = time.monotonic()
        with self._lock:
            latest, self._latest = self._latest, {}
            refused, self._refused = self._refused, {}
        if not latest and not refused:
            return 0
        with self.store.session() as session:
            upsert_many(session, list(latest.values()))
            for (device_id, kind), (count, reason) in refused.items():
                add_refusals(session, device_id, kind, reason, count)
        return len(latest) + len(refused)


def record_ack(
    session: Session, command_id: str, ok: bool, state: dict[str, Any], error: str, at: datetime
) -> bool:
    """Mark a command acknowledged (or failed) with the controller's state; False if it is unknown."""
    row = session.get(CommandRecord, command_id)
    if row is None or row.status != "pending":
        return row is not None
    row.status, row.state, row.error, row.acked_at = ("acked" if ok else "failed"), state, error[:500], at
    return True


def device_command(session: Session, device_id: str, command_id: str) -> CommandRecord:
    """A command sent to a device, or NotFound."""
    row = session.get(CommandRecord, command_id)
    if row is None or row.device_id != device_id:
        raise NotFound(f"no command {command_id!r} for device {device_id!r}")
    return row


def command_view(row: CommandRecord) -> dict[str, Any]:
    """The JSON form of a command and its acknowledgement."""
    return {
        "command_id": row.command_id,
        "device_id": row.device_id,
        "command": row.command,
        "params": row.params,
        "issued_at": row.issued_at.isoformat(),
        "status": row.status,
        "state": row.state,
        "error": row.error or None,
        "acked_at": row.acked_at.isoformat() if row.acked_at else None,
    }
