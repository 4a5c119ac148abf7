"""Carry out one planned action on a booked window: bind, start, stop, unbind; record it, tell the user.

Starting and stopping go through the same domain path as the REST routes (build_instance_request),
so a booked instance is an ordinary app instance of the booking's user. Every step is recorded in
booking_windows before the messages go out; replays are harmless (a later generation supersedes).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

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
from canopy.deployments.records import build_instance_request
from canopy.deployments.tables import Deployment
from canopy.errors import CanopyError, Conflict
from canopy.store import Store

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
        self.bus.flush()

    def _bind(self, booking: Booking) -> str:
        """Create the booking user's instance at the location on the devices the booking reserved."""
        picks = {role: b["device"] for role, b in json.loads(booking.bindings).items()}
        return create_instance(self.store, booking.app_id, booking.user_id, booking.location, picks).id

    def _prepare(self, booking: Booking, window: Window, record: WindowState | None) -> None:
        """Bind the instance and ask the deployer to fetch its package ahead of the start."""
        try:
            instance_id = self._bind(booking)
        except CanopyError as exc:
            self._record(booking, window, "blocked", detail=f"binding failed, retrying: {exc.message}")
            return
        self._record(booking, window, "prepared", instance=instance_id, detail="bound ahead of the start")
        with self.store.session() as session:
            instance = session.get(AppInstance, instance_id)
            if instance is None:
                return
            request = app_deploy_request(instance, 1, 0, {}).model_copy(update={"prepare": True})
        self._send(request, instance_id)

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
        self._send(request, instance_id)
        late = (self.clock() - window.start).total_seconds()
        detail = f"started {late:.0f} s late (the scheduler was down)" if late > 60 else "started"
        self._event(booking, window, "started", instance_id, url, detail)

    def _halt(
        self, booking: Booking, window: Window, record: WindowState | None, outcome: BookingEventKind
    ) -> None:
        """Stop the window's instance if it was started, then unbind it; record and tell `outcome`."""
        instance_id = record.instance_id if record else None
        request = None
        if instance_id is not None and record is not None and record.state == "running":
            with self.store.session() as session:
                instance = session.get(AppInstance, instance_id)
                if instance is not None and session.get(Deployment, instance_id) is not None:
                    request = build_instance_request(session, instance, 0, {})
        state = "stopping" if instance_id else "ended"
        self._record(
            booking, window, state, outcome, detail=f"{outcome}; unbinding" if instance_id else outcome
        )
        if request is not None:
            self._send(request, request.model_id)
        self._event(booking, window, outcome, instance_id)
        if instance_id:
            self._unbind(booking, window, WindowState("stopping", outcome, instance_id, self.clock()))

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
        purge = None
        with self.store.session() as session:
            instance = session.get(AppInstance, instance_id) if instance_id else None
            if instance is not None:
                try:
                    purge = remove_stopped_instance(session, instance)
                except Conflict:
                    return  # still stopping: the plan polls again
        outcome = record.outcome if record else ""
        self._record(booking, window, "ended", outcome, detail=f"{outcome}; instance {instance_id} removed")
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
