"""Writing the logger's tables: log records and dead letters in batches, and the retention limit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select

from canopy.contracts.system import DeadLetter, LogRecord
from canopy.logs.tables import DeadLetterRow, LogLine
from canopy.store import Store

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
LEVEL_NAMES = {number: name for name, number in LEVELS.items()}
Row = dict[str, Any]


def log_row(record: LogRecord) -> Row:
    """The log_records row of a record."""
    row = record.model_dump()
    row["level"] = LEVELS[record.level]
    return row


def dead_letter_row(letter: DeadLetter, at: datetime) -> Row:
    """The dead_letters row of a dead letter received at `at`."""
    return {"at": at, **letter.model_dump()}


def store_batch(store: Store, lines: Sequence[Row], letters: Sequence[Row] = ()) -> None:
    """Insert a batch of log rows and dead-letter rows in one transaction (one executemany per table)."""
    with store.engine.begin() as connection:
        if lines:
            connection.execute(insert(LogLine), list(lines))
        if letters:
            connection.execute(insert(DeadLetterRow), list(letters))


@dataclass(frozen=True)
class Retention:
    """How long records are kept (days) and how many at most; dead letters follow the day limit."""

    days: int
    max_records: int


def prune(store: Store, retention: Retention, now: datetime) -> int:
    """Delete records older than the retention days and the oldest past max_records; return how many."""
    cutoff = now - timedelta(days=retention.days)
    with store.engine.begin() as connection:
        removed = connection.execute(delete(LogLine).where(LogLine.at < cutoff)).rowcount or 0
        connection.execute(delete(DeadLetterRow).where(DeadLetterRow.at < cutoff))
        count = connection.execute(select(func.count()).select_from(LogLine)).scalar() or 0
        if count > retention.max_records:
            keep_from = connection.execute(
                select(LogLine.id).order_by(LogLine.id.desc()).offset(retention.max_records - 1).limit(1)
            ).scalar()
            removed += connection.execute(delete(LogLine).where(LogLine.id < keep_from)).rowcount or 0
    return removed
