"""Carry out one planned action on a booked window: bind, start, stop, unbind; record it, tell the user.

Starting and stopping go through the same domain path as the REST routes (request_generation and
app_deploy_request), so a booked instance is an ordinary app instance of the booking's user. Every step
is recorded in booking_windows before the messages go out; replays are harmless (a later generation
supersedes). Messages are only queued here: whoever runs the actions flushes the bus once after them,
through `flush()`: in the service that only asks the flusher (services/scheduler/flusher.py), so neither
a tick nor a batch of starts waits on acks or disk syncs.

The hot path is `fire_armed`: a window prepared ahead is armed (see services/scheduler/instants.py), so
at its start and its end a batch costs one short transaction and the publishes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from canopy.apps.deploying import app_deploy_request, instance_manifest
from canopy.apps.instances import create_instance
from canopy.apps.records import AppInstance
from canopy.apps.removal import remove_stopped_instance
from canopy.bookings.plan import Action, WindowState
from canopy.bookings.records import Booking, BookingWindow
from canopy.bookings.windows import Window
from canopy.bus import Bus
from canopy.bus.typed import publish
from canopy.config import Config
from canopy.contracts import Message
from canopy.contracts.bookings import BookingEvent, BookingEventKind
from canopy.contracts.deploy import DeployRequest
from canopy.deployments.records import build_instance_request, current_generation
from canopy.deployments.tables import Deployment
from canopy.errors import CanopyError, Conflict
from canopy.store import Store
from services.scheduler.instants import Armed, Instants, started_detail

log = logging.getLogger(__name__)
PAGE_PREFIX = "/apps"


def page_url(config: Config, instance: AppInstance) -> str | None:
    """The instance's page as its user opens it (CANOPY_GATEWAY_URL, else CANOPY_API_URL), or None."""
    if instance_manifest(instance).page is None:
        return None
    base = str(config.gateway_url or config.api_url).rstrip("/")
    return f"{base}{PAGE_PREFIX}/{instance.id}/"


@dataclass
class WindowRunner:
    """Executes planned actions against the store and the bus."""

    store: Store
    bus: Bus
    config: Config
    clock: Callable[[], datetime]
    instant_store: Store | None = None  # the starter's (see gate.starter_store); else `store`
    ask_flush: Callable[[], None] | None = None  # a BusFlusher's request; else each flush waits
    _prebuilt: dict[str, tuple[DeployRequest, str | None]] = field(default_factory=dict, repr=False)

    def run(self, action: Action, booking: Booking, record: WindowState | None) -> None:
        """Do one action; a platform error is recorded against the window, never raised."""
        handler = getattr(self, f"_{action.kind}")
        handler(booking, action.window, record)

    def _record(
        self,
        booking: Booking,
        window: Window,
        state: str,
        outcome: str = "",
        instance: str | None = None,
        detail: str = "",
    ) -> None:
        with self.store.session() as session:
            self._write(session, booking, window, state, outcome, instance, detail)

    def _write(
        self,
        session: Session,
        booking: Booking,
        window: Window,
        state: str,
        outcome: str = "",
        instance: str | None = None,
        detail: str = "",
    ) -> None:
        """Record a window's state in the caller's transaction."""
        row = session.get(BookingWindow, (booking.id, window.start))
        if row is None:
            row = BookingWindow(booking_id=booking.id, start=window.start, end=window.end, state=state)
            session.add(row)
        row.state, row.outcome, row.detail, row.updated_at = state, outcome, detail[:2000], self.clock()
        row.instance_id = instance if instance is not None else row.instance_id

    def _event(
        self,
        booking: Booking,
        window: Window,
        kind: BookingEventKind,
        instance: str | None = None,
        url: str | None = None,
        detail: str = "",
    ) -> None:
        event = BookingEvent(
            booking_id=booking.id,
            user=booking.user.name,
            app_id=booking.app_id,
            app_name=booking.app.name,
            location=booking.location,
            kind=kind,
            window_start=window.start,
            window_end=window.end,
            instance_id=instance,
            url=url,
            detail=detail[:2000],
            at=self.clock(),
        )
        self._send(event, booking.id)
        log.info("booking %s window %s: %s %s", booking.id, window.start.isoformat(), kind, detail)

    def _send(self, message: Message, key: str) -> None:
        publish(self.bus, message, key=key)

    def flush(self) -> None:
        """Have the queued messages flushed: by the flusher if there is one, else now."""
        (self.ask_flush or self.bus.flush)()

    def _bind(self, booking: Booking, also: Callable[[Session, AppInstance], None] | None = None) -> str:
        """Create the booking user's instance at the location on the devices the booking reserved."""
        picks = {role: b["device"] for role, b in json.loads(booking.bindings).items()}
        owner, location = booking.user_id, booking.location
        return create_instance(self.store, booking.app_id, owner, location, picks, also).id

    def _prepare(self, booking: Booking, window: Window, record: WindowState | None) -> None:
        """Bind the instance and record the window prepared in one transaction; have its package fetched."""
        built: dict[str, tuple[DeployRequest, str | None, DeployRequest]] = {}

        def prepared(session: Session, instance: AppInstance) -> None:
            """Record the window prepared on the new instance; build its start and its prepare request."""
            self._write(session, booking, window, "prepared", instance=instance.id, detail="bound ahead")
            start = app_deploy_request(instance, current_generation(session, instance.id) + 1, 1, {})
            fetch = app_deploy_request(instance, 1, 0, {}).model_copy(update={"prepare": True})
            built.clear()
            built[instance.id] = (start, page_url(self.config, instance), fetch)

        try:
            instance_id = self._bind(booking, prepared)
        except CanopyError as exc:
            self._record(booking, window, "blocked", detail=f"binding failed, retrying: {exc.message}")
            return
        start, url, fetch = built[instance_id]
        self._prebuilt[instance_id] = (start, url)
        self._send(fetch, instance_id)

    def arm(self, booking: Booking, window: Window, instance_id: str) -> Armed | None:
        """Build a prepared window's start ahead (from the preparation, else the store); None if gone."""
        found = self._prebuilt.pop(instance_id, None)
        if found is None:
            with self.store.session() as session:
                instance = session.get(AppInstance, instance_id)
                if instance is None:
                    return None
                generation = current_generation(session, instance_id) + 1
                found = app_deploy_request(instance, generation, 1, {}), page_url(self.config, instance)
        return Armed(booking, window, instance_id, *found)

    def fire_armed(self, batch: Sequence[Armed]) -> list[Armed]:
        """Start or stop armed windows still as armed: one transaction, the publishes, a flush asked for."""
        done = Instants(self.instant_store or self.store, self.clock, self._send, self._event).fire(batch)
        if done:
            self.flush()
        return done

    def _start(self, booking: Booking, window: Window, record: WindowState | None) -> None:
        """Start the window's instance (binding it now if it was not bound ahead)."""
        instance_id = record.instance_id if record and record.state == "prepared" else None
        if instance_id is None:
            try:
                instance_id = self._bind(booking)
            except Conflict as exc:
                self._record(booking, window, "blocked", detail=f"binding failed, retrying: {exc.message}")
                return
            except CanopyError as exc:
                self._record(booking, window, "ended", "failed", detail=exc.message)
                self._event(booking, window, "failed", detail=f"the app could not be bound: {exc.message}")
                return
        with self.store.session() as session:
            instance = session.get(AppInstance, instance_id)
            if instance is None:
                request, url = None, None
            else:
                request, url = (
                    build_instance_request(session, instance, 1, {}),
                    page_url(self.config, instance),
                )
        if request is None:
            self._record(booking, window, "blocked", detail=f"instance {instance_id} vanished; binding again")
            return
        self._record(booking, window, "running", instance=instance_id, detail="start requested")
        self._prebuilt.pop(instance_id, None)
        self._send(request, instance_id)
        self._event(booking, window, "started", instance_id, url, started_detail(self._late(window)))

    def _late(self, window: Window) -> float:
        return (self.clock() - window.start).total_seconds()

    def _halt(
        self, booking: Booking, window: Window, record: WindowState | None, outcome: BookingEventKind
    ) -> None:
        """Stop the window's instance if it was started and unbind it, in one transaction; tell `outcome`.

        The instance is removed at once when nothing of it runs (it never started, or no node runs
        it); otherwise the window waits in "stopping" and the plan unbinds it later.
        """
        instance_id = record.instance_id if record else None
        self._prebuilt.pop(instance_id or "", None)
        request = purge = None
        state, detail = "ended", str(outcome)
        with self.store.session() as session:
            instance = session.get(AppInstance, instance_id) if instance_id else None
            if instance is not None:
                running = record is not None and record.state == "running"
                if running and session.get(Deployment, instance.id) is not None:
                    request = build_instance_request(session, instance, 0, {})
                try:
                    purge = remove_stopped_instance(session, instance)
                    detail = f"{outcome}; instance {instance_id} removed"
                except Conflict:
                    state, detail = "stopping", f"{outcome}; unbinding"
            elif instance_id:
                detail = f"{outcome}; instance {instance_id} removed"
            self._write(session, booking, window, state, outcome, detail=detail)
        if request is not None:
            self._send(request, request.model_id)
        self._event(booking, window, outcome, instance_id)
        if purge is not None:
            self._send(purge, purge.model_id)

    def _stop(self, booking: Booking, window: Window, record: WindowState | None) -> None:
        self._halt(booking, window, record, "stopped")

    def _skip(self, booking: Booking, window: Window, record: WindowState | None) -> None:
        self._halt(booking, window, record, "skipped")

    def _cancel(self, booking: Booking, window: Window, record: WindowState | None) -> None:
        self._halt(booking, window, record, "cancelled")

    def _notice(self, booking: Booking, window: Window, record: WindowState | None) -> None:
        self._halt(booking, window, None, "cancelled")

    def _unbind(self, booking: Booking, window: Window, record: WindowState | None) -> None:
        """Remove the stopped instance (releasing its controllers); wait while its workload still runs."""
        instance_id = record.instance_id if record else None
        self._prebuilt.pop(instance_id or "", None)
        purge = None
        outcome = record.outcome if record else ""
        with self.store.session() as session:
            instance = session.get(AppInstance, instance_id) if instance_id else None
            if instance is not None:
                try:
                    purge = remove_stopped_instance(session, instance)
                except Conflict:
                    return  # still stopping: the plan polls again
            detail = f"{outcome}; instance {instance_id} removed"
            self._write(session, booking, window, "ended", outcome, detail=detail)
        if purge is not None:
            self._send(purge, purge.model_id)

    def deployment_failed(self, instance_id: str, message: str) -> None:
        """A booked instance's deployment failed: tell the user, then unbind it."""
        with self.store.session() as session:
            row = (
                session.query(BookingWindow).filter_by(instance_id=instance_id, state="running").one_or_none()
            )
            if row is None:
                return
            booking = session.get(Booking, row.booking_id)
            window = Window(row.start, row.end)
        if booking is None:
            return
        self._record(booking, window, "stopping", "failed", detail=f"the deployment failed: {message}")
        self._event(booking, window, "failed", instance_id, detail=message)
        self._unbind(booking, window, WindowState("stopping", "failed", instance_id, self.clock()))
        self.flush()
