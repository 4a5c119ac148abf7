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

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session

from canopy.apps.records import AppInstance
from canopy.bookings.records import Booking, BookingWindow
from canopy.bookings.windows import Window
from canopy.contracts.bookings import BookingEventKind
from canopy.contracts.deploy import DeployRequest
from canopy.deployments.records import request_generations
from canopy.store import Store

Phase = Literal["start", "stop"]
LATE_NOTICE = 60.0  # seconds: a start later than this says the scheduler was down
# phase -> (the state it expects, then the state, outcome and detail it records)
MARKS: dict[Phase, tuple[str, str, str, str]] = {
    "start": ("prepared", "running", "", "start requested"),
    "stop": ("running", "stopping", "stopped", "stopped; unbinding"),
}


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

        A handful of statements whatever the batch's size: each phase's windows are checked and marked
        by one conditional UPDATE, and the new generations are one UPDATE (and one INSERT) more.
        """
        now = self.clock()
        with self.store.session() as session:
            done = _mark(session, batch, now)
            generations: dict[str, int] = {}
            for phase, replicas in (("start", 1), ("stop", 0)):
                phased = [a.instance_id for a in done if a.phase == phase]
                generations.update(request_generations(session, phased, replicas, {}))
        for armed in done:
            replicas = 1 if armed.phase == "start" else 0
            changes = {"generation": generations[armed.instance_id], "replicas": replicas}
            self.send(armed.request.model_copy(update=changes), armed.instance_id)
        for armed in done:
            if armed.phase == "start":
                detail = started_detail((self.clock() - armed.window.start).total_seconds())
                self.tell(armed.booking, armed.window, "started", armed.instance_id, armed.url, detail)
            else:
                self.tell(armed.booking, armed.window, "stopped", armed.instance_id, None, "")
        return done


def _mark(session: Session, batch: Sequence[Armed], now: datetime) -> list[Armed]:
    """Record each step whose window is still as armed (booking active, instance there, state unchanged)."""
    bookings = [a.booking.id for a in batch]
    active = select(Booking.id).where(Booking.id.in_(bookings), Booking.status == "active")
    present = select(AppInstance.id).where(AppInstance.id.in_([a.instance_id for a in batch]))
    marked: set[tuple[str, datetime]] = set()
    for phase, (expected, state, outcome, detail) in MARKS.items():
        keys = [(a.booking.id, a.window.start, a.instance_id) for a in batch if a.phase == phase]
        if not keys:
            continue
        window = tuple_(BookingWindow.booking_id, BookingWindow.start, BookingWindow.instance_id)
        statement = (
            update(BookingWindow)
            .where(
                window.in_(keys),
                BookingWindow.state == expected,
                BookingWindow.booking_id.in_(active),
                BookingWindow.instance_id.in_(present),
            )
            .values(state=state, outcome=outcome, detail=detail, updated_at=now)
            .returning(BookingWindow.booking_id, BookingWindow.start)
            .execution_options(synchronize_session=False)
        )
        marked.update((row[0], row[1]) for row in session.execute(statement))
    return [a for a in batch if (a.booking.id, a.window.start) in marked]
