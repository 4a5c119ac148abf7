"""The bookings pages: a week calendar and list of one's bookings (an admin's: all), a booking, cancel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import request
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from canopy.apps.records import AppInstance, AppRecord
from canopy.bookings.records import Booking, BookingWindow, schedule_of, windows_between
from canopy.bookings.schedule import describe
from canopy.roles import Role
from canopy.store.models import User
from services.gateway.access import allow, current_principal
from services.gateway.accounts import Principal
from services.gateway.context import gateway_context
from services.gateway.portal import portal_blueprint
from services.gateway.portal.app_runs import InstanceState, instance_state
from services.gateway.portal.booking_forms import place, week_of
from services.gateway.portal.pages import PAGE_SIZE, done, page_offset, paginate_count, render
from services.gateway.views.bookings import BOOKERS, MAX_LISTED, cancel_for, owned_booking, visible_bookings

blueprint = portal_blueprint("bookings")
SHOWN_RECORDS = 20
SHOWN_UPCOMING = 10
NOTICES = {
    "booked": "Booked. The scheduler prepares each window ahead and starts the app at its start.",
    "cancelled": "The booking was cancelled; a window running now is being stopped.",
}


def viewer_zone(session: Session, principal: Principal) -> str:
    """The viewer's own time zone (users.timezone), in which the pages show times."""
    user = session.get(User, principal.user_id)
    return user.timezone if user is not None else "UTC"


@dataclass(frozen=True)
class WindowRow:
    """One window on a booking's page: when (viewer's zone) and what the scheduler did with it."""

    start: datetime
    end: datetime
    state: str
    outcome: str
    detail: str
    instance_id: str | None


@dataclass(frozen=True)
class BookingPage:
    """A booking with its windows, and the instance of the window running now (with its page link)."""

    booking: Booking
    schedule: str
    rows: list[WindowRow]
    running: InstanceState | None


def _rows(session: Session, booking: Booking, now: datetime, zone: str) -> list[WindowRow]:
    """The scheduler's latest records of the booking's windows and the windows still to come, by start."""
    shown = ZoneInfo(zone)
    records = session.scalars(
        select(BookingWindow)
        .where(BookingWindow.booking_id == booking.id)
        .order_by(BookingWindow.start.desc())
        .limit(SHOWN_RECORDS)
    ).all()
    rows = {
        _utc(r.start): WindowRow(
            _utc(r.start).astimezone(shown),
            _utc(r.end).astimezone(shown),
            r.state,
            r.outcome,
            r.detail,
            r.instance_id,
        )
        for r in records
    }
    if booking.status == "active":
        for window in windows_between(booking, now, booking.last_end)[:SHOWN_UPCOMING]:
            if window.start not in rows:
                rows[window.start] = WindowRow(
                    window.start.astimezone(shown), window.end.astimezone(shown), "scheduled", "", "", None
                )
    return [rows[start] for start in sorted(rows)]


def _utc(instant: datetime) -> datetime:
    """A stored instant as aware UTC (SQLite gives it back naive)."""
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def booking_page(session: Session, principal: Principal, booking: Booking, zone: str) -> BookingPage:
    """What a booking's page shows."""
    rows = _rows(session, booking, datetime.now(UTC), zone)
    running = next((row for row in rows if row.state == "running" and row.instance_id), None)
    instance = session.get(AppInstance, running.instance_id) if running and running.instance_id else None
    state = instance_state(session, principal, instance) if instance is not None else None
    return BookingPage(booking, describe(schedule_of(booking)), rows, state)


@blueprint.get("/bookings")
@allow(*BOOKERS)
def calendar() -> tuple[str, int]:
    """The week's windows of the caller's bookings (an admin's: all) by day, and the list of bookings."""
    principal = current_principal()
    now = datetime.now(UTC)
    text = request.args.get("q", "").strip()
    with gateway_context().backends.store.session() as session:
        zone = viewer_zone(session, principal)
        week = week_of(request.args.get("week", ""), zone, now)
        in_week = visible_bookings(principal).where(
            Booking.status == "active", Booking.first_start < week.end, Booking.last_end > week.start
        )
        place(week, session.scalars(in_week.limit(MAX_LISTED)).unique().all())
        listed = visible_bookings(principal)
        if text:
            pattern = f"%{text}%"
            listed = listed.join(AppRecord, Booking.app_id == AppRecord.id).where(
                or_(AppRecord.name.ilike(pattern), Booking.location.ilike(pattern), Booking.id.ilike(pattern))
            )
        total = session.scalar(select(func.count()).select_from(listed.subquery())) or 0
        found = session.scalars(listed.limit(PAGE_SIZE).offset(page_offset())).unique().all()
        paged = paginate_count([(b, describe(schedule_of(b))) for b in found], total)
        return render(
            "bookings/calendar.html",
            200,
            NOTICES,
            week=week,
            zone=zone,
            paged=paged,
            q=text,
            everyone=principal.role is Role.PLATFORM_ADMIN,
        )


@blueprint.get("/bookings/<booking_id>")
@allow(*BOOKERS)
def show(booking_id: str) -> tuple[str, int]:
    """One booking: its schedule, windows and their state, the running app's page link, and Cancel."""
    principal = current_principal()
    with gateway_context().backends.store.session() as session:
        booking = owned_booking(session, principal, booking_id)
        zone = viewer_zone(session, principal)
        page = booking_page(session, principal, booking, zone)
        return render("bookings/show.html", 200, NOTICES, page=page, zone=zone)


@blueprint.post("/bookings/<booking_id>/cancel")
@allow(*BOOKERS)
def cancel(booking_id: str) -> Response:
    """Cancel the booking as REST does: a running window is stopped and its instance unbound."""
    cancel_for(current_principal(), booking_id, datetime.now(UTC))
    return done("portal_bookings.show", "cancelled", booking_id=booking_id)
