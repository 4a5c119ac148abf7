"""Reading stored logs: the filters of GET /api/v1/logs parsed (pure) and run, scoped to what a user owns."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session

from canopy.apps.records import AppInstance, AppRecord
from canopy.errors import ValidationFailed
from canopy.logs.store import LEVEL_NAMES, LEVELS
from canopy.logs.tables import DeadLetterRow, LogLine
from canopy.models.records import ModelRecord

MAX_LIMIT = 1000
DEFAULT_LIMIT = 200
RECENT_ON_PAGES = 30
_SPAN = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class LogQuery:
    """Which records to read: by owner object, level (minimum), time, text, and after a record id."""

    model: str = ""
    app_instance: str = ""
    service: str = ""
    node: str = ""
    level: int = 0
    since: datetime | None = None
    grep: str = ""
    after: int | None = None  # follow: only records stored after this id, oldest first
    limit: int = DEFAULT_LIMIT


def parse_since(raw: str, now: datetime) -> datetime:
    """A start time from '90s', '10m', '2h', '1d' (before now) or an ISO time (UTC if no zone)."""
    span = _SPAN.match(raw.strip())
    if span:
        return now - timedelta(**{_UNITS[span.group(2)]: int(span.group(1))})
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValidationFailed(
            f"since={raw!r} is neither a span like 10m, 2h, 1d nor an ISO time", details={"since": "invalid"}
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=now.tzinfo)


def _number(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer argument within [low, high], or ValidationFailed naming it."""
    raw = args.get(name, "")
    try:
        value = int(raw) if raw else default
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ValidationFailed(f"{name} is an integer from {low} to {high}", details={name: "invalid"})
    return value


def parse_query(args: Mapping[str, str], now: datetime) -> LogQuery:
    """The LogQuery of request arguments; ValidationFailed naming a bad one."""
    level = args.get("level", "").upper()
    if level and level not in LEVELS:
        raise ValidationFailed(f"level is one of {', '.join(LEVELS)}", details={"level": "invalid"})
    return LogQuery(
        model=args.get("model", ""),
        app_instance=args.get("app_instance", ""),
        service=args.get("service", ""),
        node=args.get("node", ""),
        level=LEVELS.get(level, 0),
        since=parse_since(args["since"], now) if args.get("since") else None,
        grep=args.get("grep", "")[:200],
        after=_number(args, "after", 0, 0, 2**62) if args.get("after") else None,
        limit=_number(args, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
    )


def owned_by(user_id: int) -> ColumnElement[bool]:
    """The condition that a record belongs to a model the user owns or an app instance they run or built."""
    models = select(ModelRecord.id).where(ModelRecord.owner_id == user_id)
    instances = (
        select(AppInstance.id)
        .join(AppRecord, AppInstance.app_id == AppRecord.id)
        .where(or_(AppInstance.owner_id == user_id, AppRecord.owner_id == user_id))
    )
    return or_(
        (LogLine.model_id != "") & LogLine.model_id.in_(models),
        (LogLine.instance_id != "") & LogLine.instance_id.in_(instances),
    )


def _filtered(query: LogQuery, owner: int | None) -> Select[LogLine]:
    """The select of the matching records (any order)."""
    chosen = select(LogLine)
    for column, value in (
        (LogLine.model_id, query.model),
        (LogLine.instance_id, query.app_instance),
        (LogLine.service, query.service),
        (LogLine.node, query.node),
    ):
        if value:
            chosen = chosen.where(column == value)
    if query.level:
        chosen = chosen.where(LogLine.level >= query.level)
    if query.since is not None:
        chosen = chosen.where(LogLine.at >= query.since)
    if query.grep:
        chosen = chosen.where(LogLine.message.ilike(f"%{_escaped(query.grep)}%", escape="\\"))
    if query.after is not None:
        chosen = chosen.where(LogLine.id > query.after)
    if owner is not None:
        chosen = chosen.where(owned_by(owner))
    return chosen


def _escaped(text: str) -> str:
    """Text matched literally by LIKE."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def find_lines(session: Session, query: LogQuery, owner: int | None) -> list[LogLine]:
    """Matching records, oldest first: the first `limit` after `after`, else the newest `limit`.

    `owner` None reads every record (platform_admin); a user id reads only that user's workloads' lines.
    """
    chosen = _filtered(query, owner)
    if query.after is not None:
        return list(session.scalars(chosen.order_by(LogLine.id).limit(query.limit)))
    newest = list(session.scalars(chosen.order_by(LogLine.id.desc()).limit(query.limit)))
    return newest[::-1]


def line_view(line: LogLine) -> dict[str, object]:
    """A stored record as the API answers it."""
    return {
        "id": line.id,
        "at": line.at.isoformat(),
        "level": LEVEL_NAMES.get(line.level, str(line.level)),
        "source": line.source,
        "service": line.service,
        "node": line.node,
        "model_id": line.model_id,
        "instance_id": line.instance_id,
        "logger": line.logger,
        "message": line.message,
    }


def recent_lines(session: Session, query: LogQuery) -> list[dict[str, object]]:
    """The newest lines of a query, oldest first, for a page whose view already checked access."""
    return [line_view(line) for line in find_lines(session, query, None)]


def recent_dead_letters(session: Session, limit: int) -> list[dict[str, object]]:
    """The newest dead letters, newest first, with a preview of each payload."""
    rows = session.scalars(select(DeadLetterRow).order_by(DeadLetterRow.id.desc()).limit(limit))
    return [
        {
            "id": row.id,
            "at": row.at.isoformat(),
            "source_topic": row.source_topic,
            "partition": row.partition,
            "offset": row.offset,
            "group": row.group,
            "reason": row.reason,
            "payload_preview": row.payload[:200],
            "payload_encoding": row.payload_encoding,
        }
        for row in rows
    ]
