"""The scheduler's core: for one booking at an instant, plan, act, and say when it is due again.

State lives in the store (bookings, booking_windows), so a restarted scheduler rebuilds everything
from `due_bookings()`; the clock is explicit so tests can drive it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from canopy.bookings.plan import WindowState, next_due, plan
from canopy.bookings.records import Booking, BookingWindow, windows_of
from canopy.bookings.windows import Window
from canopy.bus import Bus
from canopy.config import Config
from canopy.store import Store
from services.scheduler.runner import WindowRunner

log = logging.getLogger(__name__)


def _states(store: Store, booking_id: str) -> dict[datetime, WindowState]:
    with store.session() as session:
        rows = session.scalars(select(BookingWindow).where(BookingWindow.booking_id == booking_id))
        return {r.start: WindowState(r.state, r.outcome, r.instance_id, r.updated_at) for r in rows}  # type: ignore[arg-type]


class BookingClock:
    """Plans and runs the windows of each booking; one booking's ticks never overlap."""

    def __init__(self, store: Store, bus: Bus, config: Config, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock
        self.lead = timedelta(seconds=float(config.booking_lead_seconds))
        self.runner = WindowRunner(store, bus, config, clock)
        self._windows: dict[str, list[Window]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def due_bookings(self) -> list[str]:
        """Bookings that may still need the scheduler: active and not over, or with a window in progress."""
        now = self.clock()
        with self.store.session() as session:
            busy = select(BookingWindow.booking_id).where(BookingWindow.state != "ended")
            query = select(Booking.id).where(
                or_(
                    Booking.status == "active",
                    Booking.id.in_(busy),
                    Booking.cancelled_at > now - timedelta(days=1),
                ),
                or_(Booking.last_end > now - timedelta(days=1), Booking.id.in_(busy)),
            )
            return list(session.scalars(query))

    def _lock(self, booking_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(booking_id, threading.Lock())

    def tick(self, booking_id: str, then: Callable[[datetime | None], None] | None = None) -> datetime | None:
        """Do what is due for the booking now; return (and hand `then`, under its lock) its next due time."""
        with self._lock(booking_id):
            due = self._tick(booking_id)
            if then is not None:
                then(due)
            if due is None:
                with self._guard:
                    self._locks.pop(booking_id, None)
                self._windows.pop(booking_id, None)
            return due

    def _tick(self, booking_id: str) -> datetime | None:
        now = self.clock()
        with self.store.session() as session:
            booking = session.get(Booking, booking_id)
        if booking is None:
            return None
        found = self._windows.get(booking_id)
        if found is None:
            found = self._windows[booking_id] = windows_of(booking)
        cancelled = booking.status != "active"
        states = _states(self.store, booking_id)
        for action in plan(found, states, now, self.lead, cancelled):
            try:
                self.runner.run(action, booking, states.get(action.window.start))
            except Exception:
                log.exception(
                    "booking %s: %s of the window at %s failed", booking_id, action.kind, action.window
                )
        return next_due(found, _states(self.store, booking_id), now, self.lead, cancelled)
