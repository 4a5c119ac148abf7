"""Assemble the scheduler: APScheduler runs each booking's next due tick; the bus and the store feed it.

One date job per booking (id = booking id) at the instant its plan is next due; a job that fires late
(the process was busy or down) still runs, and the plan decides: start late while the window is open,
skip it once it is over. At start every booking that may still need the scheduler is ticked at once,
which rebuilds the jobs from the store; a periodic resync catches anything a lost message missed (a
booking whose last tick found nothing more to do is not ticked again unless its status changes).

The instant a prepared window opens is kept off the ticks' path: its job, on an executor of its own,
only hands the armed start to the starter thread, which starts everything due together in one
transaction; preparing, stopping and unbinding run on the tick workers. Neither waits on the bus: the
flusher flushes on a thread of its own whatever they queued.

A full garbage collection stops every thread while it scans the heap: over a whole platform's modules a
tenth of a second or more, every start due meanwhile late by as much. So the scheduler collects once as
it starts and freezes what is left (gc.freeze): later collections scan only what came after.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import Histogram

from canopy.bus.base import Record
from canopy.bus.typed import Subscriber
from canopy.contracts import Envelope, topics
from canopy.contracts.bookings import ScheduleRequest
from canopy.contracts.deploy import DeploymentEvent
from canopy.deployments.records import platform_group
from canopy.runtime import Component
from canopy.runtime.backends import Backends
from canopy.runtime.subscription import SubscriptionLoop
from canopy.store.models import utcnow
from services.scheduler.core import BookingClock
from services.scheduler.flusher import BusFlusher
from services.scheduler.gate import SQLITE_WORKERS, gated, starter_store, tick_workers
from services.scheduler.instants import Armed

log = logging.getLogger(__name__)

BATCH = 200  # armed starts recorded in one transaction at most
RESYNC = timedelta(seconds=30)
LATENESS = Histogram(
    "canopy_scheduler_lateness_seconds",
    "How late a booking's tick ran after the instant it was due",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30),
)
FireHook = Callable[[str, datetime, datetime], None]


class BookingJobs:
    """The APScheduler side: one date job per booking, fired on a thread pool."""

    name = "booking-jobs"

    def __init__(
        self, clock: BookingClock, on_fire: FireHook | None = None, workers: int = SQLITE_WORKERS
    ) -> None:
        self.clock = clock
        self.on_fire = on_fire
        self.workers = workers
        self._scheduler: BackgroundScheduler | None = None
        self._starts: queue.SimpleQueue[Armed | None] = queue.SimpleQueue()
        self._starter: threading.Thread | None = None
        self._executors: dict[str, ThreadPoolExecutor] = {}

    def start(self) -> None:
        """Start APScheduler and the starter, then tick every booking that may need it (rebuilding jobs)."""
        gc.collect()
        gc.freeze()
        self._starter = threading.Thread(target=self._start_loop, name="scheduler-starts", daemon=True)
        self._starter.start()
        self._executors = {"default": ThreadPoolExecutor(self.workers), "instant": ThreadPoolExecutor(1)}
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors=self._executors,
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 4},
        )
        self._scheduler.start()
        self._scheduler.add_job(self.resync, "interval", seconds=RESYNC.total_seconds(), id="~resync")
        self.resync()

    def stop(self) -> None:
        """Stop firing; running ticks and starts finish.

        APScheduler's shutdown(wait=True) waits for running jobs while holding its job store lock, which
        a running tick needs to reschedule itself: so stop it first, then wait for the jobs.
        """
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=False)
            for executor in self._executors.values():
                executor.shutdown(wait=True)
        if self._starter is not None:
            self._starts.put(None)
            self._starter.join()
            self._starter = None
        own = self.clock.runner.instant_store
        if own is not None and own is not self.clock.store:
            own.close()

    def problem(self) -> str | None:
        """Why the scheduler is not working, or None."""
        if self._starter is None or not self._starter.is_alive():
            return "the starter thread is not running"
        return None if self._scheduler is not None and self._scheduler.running else "not running"

    def resync(self) -> None:
        """Tick every booking that may need the scheduler, has no job yet and changed since it settled."""
        found = dict(self.clock.due_statuses())
        settled = self.clock.settled
        for booking_id in [b for b in list(settled) if b not in found]:
            settled.pop(booking_id, None)
        scheduler = self._scheduler
        for booking_id, status in found.items():
            if settled.get(booking_id) == status:
                continue
            if scheduler is not None and scheduler.get_job(booking_id) is None:
                self.poke(booking_id)

    def poke(self, booking_id: str, at: datetime | None = None) -> None:
        """Tick the booking at `at` (now if None), replacing its pending job."""
        if self._scheduler is None:
            return
        due = at or utcnow()
        self._scheduler.add_job(
            self._fire, "date", run_date=due, args=[booking_id, due], id=booking_id, replace_existing=True
        )

    def _arm(self, booking_id: str, due: datetime) -> None:
        """Fire the armed start of the booking at `due` on the instant executor."""
        if self._scheduler is None:
            return
        self._scheduler.add_job(
            self._instant,
            "date",
            run_date=due,
            args=[booking_id, due],
            id=booking_id,
            replace_existing=True,
            executor="instant",
        )

    def _observe(self, booking_id: str, due: datetime) -> None:
        fired = utcnow()
        LATENESS.observe(max(0.0, (fired - due).total_seconds()))
        if self.on_fire is not None:
            self.on_fire(booking_id, due, fired)

    def _fire(self, booking_id: str, due: datetime) -> None:
        self._observe(booking_id, due)
        self.clock.tick(booking_id, lambda next_due: self._reschedule(booking_id, next_due))

    def _instant(self, booking_id: str, due: datetime) -> None:
        """An armed window opens or ends: hand it to the starter (or tick, if it was disarmed)."""
        self._observe(booking_id, due)
        armed = self.clock.armed.get(booking_id)
        if armed is not None and armed.at == due:
            self._starts.put(armed)
        else:
            self.poke(booking_id)

    def _start_loop(self) -> None:
        """Start and stop what is due in batches: whatever queued while the previous batch was carried out."""
        while True:
            first = self._starts.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < BATCH:
                try:
                    more = self._starts.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._starts.put(None)
                    break
                batch.append(more)
            try:
                dues, retick = self.clock.fire_armed(batch)
            except Exception:
                log.exception("%d booked starts or stops failed; ticking them instead", len(batch))
                dues, retick = {}, [a.booking.id for a in batch]
            for booking_id, due in dues.items():
                self._reschedule(booking_id, due)
            for booking_id in retick:
                self.poke(booking_id)

    def _reschedule(self, booking_id: str, due: datetime | None) -> None:
        if due is None:
            return
        armed = self.clock.armed.get(booking_id)
        if armed is not None and armed.at == due:
            self._arm(booking_id, due)
        else:
            self.poke(booking_id, due)


def schedule_handler(jobs: BookingJobs) -> Callable[[Envelope, Record], None]:
    """Bus handler: a created or cancelled booking is ticked now; a failed booked deployment is reported."""

    def handle(envelope: Envelope, _record: Record) -> None:
        """Route one message."""
        message = envelope.message
        if isinstance(message, ScheduleRequest):
            jobs.poke(message.booking_id)
        elif isinstance(message, DeploymentEvent) and message.stage == "failed":
            jobs.clock.runner.deployment_failed(message.model_id, message.message)

    return handle


def scheduler_components(backends: Backends, on_fire: FireHook | None = None) -> list[Component]:
    """The scheduler's flusher, jobs and bus subscriptions (schedule requests and deployment failures)."""
    store = gated(backends.store)
    flusher = BusFlusher(backends.bus)
    clock = BookingClock(
        store, backends.bus, backends.config, utcnow, starter_store(store), ask_flush=flusher.request
    )
    jobs = BookingJobs(clock, on_fire, tick_workers(store))
    group = platform_group("scheduler", backends.config.db_url)
    handler = schedule_handler(jobs)
    return [
        flusher,
        jobs,
        SubscriptionLoop(
            "schedule-requests", lambda: Subscriber(backends.bus, group, [topics.SCHEDULE], handler)
        ),
        SubscriptionLoop(
            "booked-deployments",
            lambda: Subscriber(
                backends.bus,
                f"scheduler-deploy-{uuid.uuid4().hex[:8]}",
                [topics.DEPLOY_EVENTS],
                handler,
                from_beginning=False,
            ),
        ),
    ]
