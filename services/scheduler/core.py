"""The scheduler's core: for one booking at an instant, plan, act, and say when it is due again.

State lives in the store (bookings, booking_windows), so a restarted scheduler rebuilds everything
from `due_bookings()`; the clock is explicit so tests can drive it.

A tick whose next due instant is the start of a prepared window arms it (`armed`): the start is built
ahead, so at the instant `fire_armed` only records and publishes it, for a whole batch at once; a window
started so is armed for its end the same way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from canopy.bookings.plan import WindowState, next_due, plan
from canopy.bookings.records import Booking, BookingWindow, windows_of
from canopy.bookings.windows import Window
from canopy.bus import Bus
from canopy.config import Config
from canopy.store import Store
from services.scheduler.gate import GatedStore
from services.scheduler.instants import Armed
from services.scheduler.runner import WindowRunner

log = logging.getLogger(__name__)
States = dict[datetime, WindowState]


def _states(session: Session, booking_id: str) -> States:
    rows = session.scalars(select(BookingWindow).where(BookingWindow.booking_id == booking_id))
    return {r.start: WindowState(r.state, r.outcome, r.instance_id, r.updated_at) for r in rows}  # type: ignore[arg-type]


def _armable(found: Sequence[Window], states: States, due: datetime, now: datetime) -> WindowState | None:
    """The record of the prepared window starting at `due` (still ahead), if that is what is due."""
    if due <= now:
        return None
    window = next((w for w in found if w.start == due), None)
    record = states.get(due) if window is not None else None
    return record if record is not None and record.state == "prepared" and record.instance_id else None


class BookingClock:
    """Plans and runs the windows of each booking; one booking's ticks never overlap."""

    def __init__(
        self,
        store: Store,
        bus: Bus,
        config: Config,
        clock: Callable[[], datetime],
        instant_store: Store | None = None,
        ask_flush: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.clock = clock
        self.lead = timedelta(seconds=float(config.booking_lead_seconds))
        self.runner = WindowRunner(store, bus, config, clock, instant_store, ask_flush)
        self.armed: dict[str, Armed] = {}
        self.settled: dict[str, str] = {}  # booking -> its status when its last tick found nothing to come
        self._windows: dict[str, list[Window]] = {}
        self._states: dict[str, States] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def due_bookings(self) -> list[str]:
        """Bookings that may still need the scheduler: active and not over, or with a window in progress."""
        return [booking_id for booking_id, _ in self.due_statuses()]

    def due_statuses(self) -> list[tuple[str, str]]:
        """(id, status) of each booking `due_bookings` lists."""
        now = self.clock()
        with self.store.session() as session:
            busy = select(BookingWindow.booking_id).where(BookingWindow.state != "ended")
            query = select(Booking.id, Booking.status).where(
                or_(
                    Booking.status == "active",
                    Booking.id.in_(busy),
                    Booking.cancelled_at > now - timedelta(days=1),
                ),
                or_(Booking.last_end > now - timedelta(days=1), Booking.id.in_(busy)),
            )
            return [(row[0], row[1]) for row in session.execute(query)]

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
                self._forget(booking_id)
            return due

    def _forget(self, booking_id: str) -> None:
        with self._guard:
            self._locks.pop(booking_id, None)
        self._windows.pop(booking_id, None)
        self._states.pop(booking_id, None)

    def _tick(self, booking_id: str) -> datetime | None:
        now = self.clock()
        self.armed.pop(booking_id, None)
        with self.store.session() as session:
            booking = session.get(Booking, booking_id)
            states = _states(session, booking_id) if booking is not None else {}
        if booking is None:
            return None
        self.settled.pop(booking_id, None)
        found = self._windows.get(booking_id)
        if found is None:
            found = self._windows[booking_id] = windows_of(booking)
        cancelled = booking.status != "active"
        actions = plan(found, states, now, self.lead, cancelled)
        for action in actions:
            try:
                self.runner.run(action, booking, states.get(action.window.start))
            except Exception:
                log.exception(
                    "booking %s: %s of the window at %s failed", booking_id, action.kind, action.window
                )
        if actions:
            self.runner.flush()
            with self.store.session() as session:
                states = _states(session, booking_id)
        due = next_due(found, states, now, self.lead, cancelled)
        if due is None:
            self.settled[booking_id] = booking.status
        record = None if cancelled or due is None else _armable(found, states, due, now)
        if record is not None and due is not None and record.instance_id is not None:
            armed = self.runner.arm(booking, next(w for w in found if w.start == due), record.instance_id)
            if armed is not None:
                self.armed[booking_id] = armed
                self._states[booking_id] = states
        return due

    def _urgent(self) -> AbstractContextManager[None]:
        """Let this thread's store sessions go first, holding back the ticks' new ones (see gate.py)."""
        return self.store.urgent() if isinstance(self.store, GatedStore) else nullcontext()

    def fire_armed(self, batch: Sequence[Armed]) -> tuple[dict[str, datetime | None], list[str]]:
        """Carry out a batch of armed starts and stops at their instant; ({booking: next due}, to tick now).

        A booking whose tick is running (its lock is taken), or whose window is no longer as armed
        (cancelled, started or stopped by a tick, instance gone), goes to the ticks instead. A window
        started here is armed again for its end when that is what is due next.
        """
        held: list[tuple[Armed, threading.Lock]] = []
        retick: list[str] = []
        for armed in batch:
            lock = self._lock(armed.booking.id)
            if self.armed.get(armed.booking.id) is armed and lock.acquire(blocking=False):
                if self.armed.get(armed.booking.id) is armed:
                    held.append((armed, lock))
                    continue
                lock.release()
            retick.append(armed.booking.id)
        dues: dict[str, datetime | None] = {}
        try:
            with self._urgent():
                done = {a.booking.id for a in self.runner.fire_armed([a for a, _ in held])}
            now = self.clock()
            for armed, _ in held:
                due = self._after(armed, armed.booking.id in done, now)
                if due is None:
                    retick.append(armed.booking.id)
                else:
                    dues[armed.booking.id] = due
        finally:
            for _, lock in held:
                lock.release()
        return dues, retick

    def _after(self, armed: Armed, done: bool, now: datetime) -> datetime | None:
        """Record an armed step carried out; the booking's next due instant (None: tick it now)."""
        booking_id = armed.booking.id
        self.armed.pop(booking_id, None)
        states = self._states.pop(booking_id, None)
        found = self._windows.get(booking_id)
        if not done or states is None or found is None:
            return None
        record = states[armed.window.start]
        if armed.phase == "start":
            states[armed.window.start] = WindowState("running", "", record.instance_id, now)
        else:
            states[armed.window.start] = WindowState("stopping", "stopped", record.instance_id, now)
        due = next_due(found, states, now, self.lead, False)
        if armed.phase == "start" and due == armed.window.end:
            self.armed[booking_id] = armed.stopping()
            self._states[booking_id] = states
        return due
