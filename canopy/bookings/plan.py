"""What the scheduler does for one booking at an instant: pure `plan(...)` and `next_due(...)`.

A window moves through states recorded in the store (booking_windows): none -> prepared (instance
bound, package fetched ahead) -> running (start requested) -> stopping (stop requested, waiting to
unbind) -> ended, with an outcome (stopped, skipped, cancelled, failed). "blocked" is a window whose
instance could not be bound yet (e.g. the previous booking's instance still holds the controller):
it is retried every RETRY until the window is over.

Misfires follow from the states: a window still open at `now` that never started starts late; one
already over that never started is skipped; a running one whose end has not come is left running.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from canopy.bookings.windows import Window

RETRY = timedelta(seconds=2)
ActionKind = Literal["prepare", "start", "stop", "skip", "cancel", "unbind", "notice"]
IN_PROGRESS = ("prepared", "blocked", "running")


@dataclass(frozen=True)
class WindowState:
    """What the store says about one window of a booking."""

    state: Literal["prepared", "blocked", "running", "stopping", "ended"]
    outcome: str
    instance_id: str | None
    updated_at: datetime


@dataclass(frozen=True)
class Action:
    """One thing to do now for a window."""

    kind: ActionKind
    window: Window


def _retry_due(record: WindowState | None, now: datetime) -> bool:
    """Whether a window is untouched, or blocked long enough ago to try again."""
    return record is None or (record.state == "blocked" and now >= record.updated_at + RETRY)


def _action(
    window: Window, record: WindowState | None, now: datetime, lead: timedelta, cancelled: bool
) -> ActionKind | None:
    """What one window needs at `now`, if anything."""
    state = record.state if record else None
    if state == "ended":
        return None
    if state == "stopping":
        return "unbind"
    if cancelled:
        return "cancel" if state in IN_PROGRESS else None
    if state == "running":
        return "stop" if now >= window.end else None
    if now >= window.end:
        return "skip"
    if now >= window.start:
        return "start" if state == "prepared" or _retry_due(record, now) else None
    if now >= window.start - lead and _retry_due(record, now):
        return "prepare"
    return None


def plan(
    found: Sequence[Window],
    states: Mapping[datetime, WindowState],
    now: datetime,
    lead: timedelta,
    cancelled: bool,
) -> list[Action]:
    """The actions due at `now` for a booking's windows (start-sorted) and their recorded states."""
    actions: list[Action] = []
    for window in found:
        kind = _action(window, states.get(window.start), now, lead, cancelled)
        if kind is not None:
            actions.append(Action(kind, window))
    if cancelled and not any(a.kind == "cancel" for a in actions) and _notice_pending(found, states, now):
        actions.append(Action("notice", next(w for w in found if w.end > now and w.start not in states)))
    return actions


def next_due(
    found: Sequence[Window],
    states: Mapping[datetime, WindowState],
    now: datetime,
    lead: timedelta,
    cancelled: bool,
) -> datetime | None:
    """When `plan` next has something to do for this booking (None: never again)."""
    due: list[datetime] = []
    for window in found:
        record = states.get(window.start)
        state = record.state if record else None
        if state == "ended":
            continue
        if state == "stopping":
            due.append(now + RETRY)
        elif cancelled:
            if state in IN_PROGRESS:
                due.append(now)
        elif state == "running":
            due.append(window.end)
        elif state == "blocked":
            due.append(max(record.updated_at + RETRY, window.start - lead))  # type: ignore[union-attr]
        else:
            candidates = [window.start - lead, window.start, window.end]
            due.append(min((t for t in candidates if t > now), default=now))
            if state is None and window.start - lead > now:
                break  # later windows come after this one's preparation
    if cancelled and _notice_pending(found, states, now):
        due.append(now)
    return min(due) if due else None


def _notice_pending(found: Sequence[Window], states: Mapping[datetime, WindowState], now: datetime) -> bool:
    """Whether a cancelled booking has not yet said so and has a window to come."""
    if any(r.outcome == "cancelled" for r in states.values()):
        return False
    return any(w.end > now and w.start not in states for w in found)
