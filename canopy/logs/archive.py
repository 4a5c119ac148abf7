"""Daily archives of stored log records in blob storage: logs/YYYY/MM/DD.jsonl.gz, written once per day."""

from __future__ import annotations

import gzip
import json
import tempfile
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select

from canopy.blob import BlobStore
from canopy.logs.query import line_view
from canopy.logs.tables import LogLine
from canopy.store import Store

PAGE = 5000


def archive_key(day: date) -> str:
    """Where a day's archive is kept."""
    return f"logs/{day:%Y/%m/%d}.jsonl.gz"


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), UTC)
    return start, start + timedelta(days=1)


def archive_day(store: Store, blob: BlobStore, day: date) -> bool:
    """Write the day's records (oldest first, one JSON object a line, gzipped); False if already archived."""
    key = archive_key(day)
    if blob.exists(key):
        return False
    start, end = _bounds(day)
    with tempfile.TemporaryFile() as spool:
        with gzip.GzipFile(fileobj=spool, mode="wb", mtime=0) as packed, store.session() as session:
            after = 0
            while page := list(
                session.scalars(
                    select(LogLine)
                    .where(LogLine.at >= start, LogLine.at < end, LogLine.id > after)
                    .order_by(LogLine.id)
                    .limit(PAGE)
                )
            ):
                packed.write("".join(json.dumps(line_view(line)) + "\n" for line in page).encode())
                after = page[-1].id
        spool.seek(0)
        blob.put(key, spool)
    return True


def finished_days(store: Store, today: date) -> list[date]:
    """Days before `today` (UTC) that have stored records, oldest first."""
    with store.session() as session:
        oldest = session.scalar(select(func.min(LogLine.at)))
    if oldest is None:
        return []
    first = oldest.astimezone(UTC).date()
    return [first + timedelta(days=n) for n in range((today - first).days)]


def archive_finished_days(store: Store, blob: BlobStore, now: datetime) -> list[date]:
    """Archive every finished day not archived yet; return the days written."""
    return [day for day in finished_days(store, now.astimezone(UTC).date()) if archive_day(store, blob, day)]
