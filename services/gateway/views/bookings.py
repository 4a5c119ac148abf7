"""Bookings: an end user books an app at a location (once, daily or cron), lists, shows and cancels them.

The gateway writes the booking and tells the scheduler (canopy.schedule), which runs its windows.
A booking is its user's; platform_admin sees and cancels every booking.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response, jsonify
from sqlalchemy import select

from canopy.bookings.listing import booking_view
from canopy.bookings.records import Booking
from canopy.bookings.repository import cancel_booking, create_booking, get_booking
from canopy.bookings.requests import Limits, parse_booking
from canopy.bus.typed import publish
from canopy.config import Config
from canopy.contracts.bookings import ScheduleRequest
from canopy.errors import Forbidden, NotFound
from canopy.roles import Role
from canopy.store.models import User
from services.gateway.access import allow, current_principal
from services.gateway.context import gateway_context
from services.gateway.ownership import may_manage
from services.gateway.views.helpers import json_body

blueprint = Blueprint("bookings", __name__, url_prefix="/api/v1/bookings")
BOOKERS = (Role.END_USER, Role.PLATFORM_ADMIN)
MAX_LISTED = 500


def booking_limits(config: Config) -> Limits:
    """The configured window length and horizon."""
    return Limits(
        max_length=timedelta(hours=float(config.booking_max_hours)),
        horizon=timedelta(days=int(config.booking_horizon_days)),
    )


def _tell_scheduler(booking_id: str, change: str, now: datetime) -> None:
    bus = gateway_context().backends.bus
    publish(bus, ScheduleRequest(booking_id=booking_id, change=change, at=now), key=booking_id)  # type: ignore[arg-type]
    bus.flush()


def _mine(booking: Booking) -> Booking:
    """The booking, if the caller booked it or is a platform_admin."""
    if not may_manage(current_principal(), booking.user_id):
        raise Forbidden(
            f"booking {booking.id} is another user's; only its user or a platform_admin may see it"
        )
    return booking


@blueprint.post("")
@allow(*BOOKERS)
def create() -> tuple[Response, int]:
    """Book {app, location} with {start, end} | {daily, days} | {cron, duration}; tz, from, until optional."""
    body = json_body()
    backends = gateway_context().backends
    now = datetime.now(UTC)
    limits = booking_limits(backends.config)
    principal = current_principal()
    with backends.store.session() as session:
        user = session.get(User, principal.user_id)
        if user is None:
            raise NotFound("your user no longer exists")
        default_zone = user.timezone
    request = parse_booking(body, default_zone, now, limits)
    created = create_booking(backends.store, principal.user_id, request, now, limits)
    _tell_scheduler(created.id, "created", now)
    with backends.store.session() as session:
        return jsonify(booking_view(get_booking(session, created.id), now, session)), 201


@blueprint.get("")
@allow(*BOOKERS)
def list_bookings() -> Response:
    """Your bookings (a platform_admin's: all), newest first; ?status=active|cancelled filters."""
    principal = current_principal()
    now = datetime.now(UTC)
    query = select(Booking).order_by(Booking.created_at.desc()).limit(MAX_LISTED)
    if principal.role is not Role.PLATFORM_ADMIN:
        query = query.where(Booking.user_id == principal.user_id)
    with gateway_context().backends.store.session() as session:
        found = session.scalars(query).unique().all()
        return jsonify({"bookings": [booking_view(booking, now) for booking in found]})


@blueprint.get("/<booking_id>")
@allow(*BOOKERS)
def show(booking_id: str) -> Response:
    """One booking with the scheduler's records of its latest windows."""
    with gateway_context().backends.store.session() as session:
        booking = _mine(get_booking(session, booking_id))
        return jsonify(booking_view(booking, datetime.now(UTC), session))


def _cancel(booking_id: str) -> Response:
    now = datetime.now(UTC)
    with gateway_context().backends.store.session() as session:
        changed = cancel_booking(session, _mine(get_booking(session, booking_id)), now)
    if changed:
        _tell_scheduler(booking_id, "cancelled", now)
    with gateway_context().backends.store.session() as session:
        return jsonify(booking_view(get_booking(session, booking_id), now, session))


@blueprint.post("/<booking_id>/cancel")
@allow(*BOOKERS)
def cancel(booking_id: str) -> Response:
    """Cancel a booking; a window running now is stopped and its instance unbound by the scheduler."""
    return _cancel(booking_id)


@blueprint.delete("/<booking_id>")
@allow(*BOOKERS)
def delete(booking_id: str) -> Response:
    """The same as POST .../cancel (the booking stays listed, cancelled)."""
    return _cancel(booking_id)
