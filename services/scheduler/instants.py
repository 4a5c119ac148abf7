"""The instants of prepared windows: starts and stops built ahead (armed), carried out a batch at a time.

A prepared window is armed for its start: its deploy request and page URL are built in memory, so at
the instant a batch of starts costs one short transaction, the publishes and one flush. A window
started that way is armed again for its end: its stop is the same request at 0 replicas, so the stop
also costs one transaction for the batch; the tick workers unbind it afterwards.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select

from canopy.apps.records import AppInstance
from canopy.bookings.records import Booking, BookingWindow
from canopy.bookings.windows import Window
from canopy.contracts.bookings import BookingEventKind
from canopy.contracts.deploy import DeployRequest
from canopy.deployments.records import request_generations
from canopy.store import Store

Phase = Literal["start", "stop"]
LATE_NOTICE = 60.0  # seconds: a start later than this says the scheduler was down


@dataclass(frozen=True)
class Armed:
    """A window waiting for its instant (its start, then its end): everything it needs, built ahead."""

    booking: Booking
    window: Window
    instance_id: str
    request: DeployRequest
    url: str | None
    phase: Phase = "start"

    @property
    def at(self) -> datetime:
        """The instant this armed step is due."""
        return self.window.start if self.phase == "start" else self.window.end

    def stopping(self) -> Armed:
        """The same window armed for its end."""
        return dataclasses.replace(self, phase="stop")


def started_detail(late: float) -> str:
    """What the started event says about how late it is."""
    return f"started {late:.0f} s late (the scheduler was down)" if late > LATE_NOTICE else "started"


Send = Callable[[DeployRequest, str], None]
Tell = Callable[[Booking, Window, BookingEventKind, str | None, str | None, str], None]


@dataclass
class Instants:
    """Carries out a batch of armed steps on the store, then publishes them (the caller flushes)."""

    store: Store
    clock: Callable[[], datetime]
    send: Send
    tell: Tell

    def fire(self, batch: Sequence[Armed]) -> list[Armed]:
        """Start or stop each armed window still as armed, in one transaction; those done.

        A handful of statements whatever the batch's size: the checks are one query each, the new
        generations one more, and the writes go out in one flush.
        """
        ids = [a.booking.id for a in batch]
        now = self.clock()
        with self.store.session() as session:
            query = select(Booking.id).where(Booking.id.in_(ids), Booking.status == "active")
            active = set(session.scalars(query))
            rows = {
                (r.booking_id, r.start): r
                for r in session.scalars(select(BookingWindow).where(BookingWindow.booking_id.in_(ids)))
            }
            instances = [a.instance_id for a in batch]
            present = set(session.scalars(select(AppInstance.id).where(AppInstance.id.in_(instances))))
            done = [
                a for a in batch if _as_armed(a, rows.get((a.booking.id, a.window.start)), active, present)
            ]
            for armed in done:
                _record(armed, rows[_key(armed)], now)
            generations: dict[str, int] = {}
            for phase, replicas in (("start", 1), ("stop", 0)):
                phased = [a.instance_id for a in done if a.phase == phase]
                generations.update(request_generations(session, phased, replicas, {}))
        for armed in done:
            replicas = 1 if armed.phase == "start" else 0
            update = {"generation": generations[armed.instance_id], "replicas": replicas}
            self.send(armed.request.model_copy(update=update), armed.instance_id)
        for armed in done:
            if armed.phase == "start":
                detail = started_detail((self.clock() - armed.window.start).total_seconds())
                self.tell(armed.booking, armed.window, "started", armed.instance_id, armed.url, detail)
            else:
                self.tell(armed.booking, armed.window, "stopped", armed.instance_id, None, "")
        return done


def _key(armed: Armed) -> tuple[str, datetime]:
    """The primary key of the armed window's row."""
    return armed.booking.id, armed.window.start


def _as_armed(armed: Armed, row: BookingWindow | None, active: set[str], present: set[str]) -> bool:
    """Whether the window is still as it was armed: booking active, instance there, state unchanged."""
    expected = "prepared" if armed.phase == "start" else "running"
    if armed.booking.id not in active or armed.instance_id not in present:
        return False
    return row is not None and row.state == expected and row.instance_id == armed.instance_id


def _record(armed: Armed, row: BookingWindow, now: datetime) -> None:
    """Record the step against the window (flushed with the batch's new generations)."""
    if armed.phase == "start":
        row.state, row.outcome, row.detail = "running", "", "start requested"
    else:
        row.state, row.outcome, row.detail = "stopping", "stopped", "stopped; unbinding"
    row.updated_at = now
