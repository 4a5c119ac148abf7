"""Booking events: the scheduler tells the notifier (and any watcher) what happened to a booked window."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from canopy.contracts import topics
from canopy.contracts.base import Message, contract

BookingEventKind = Literal["started", "failed", "stopped", "cancelled", "skipped"]


@contract("booking-event", topic=topics.BOOKINGS)
class BookingEvent(Message):
    """One window of a booking started, failed, stopped, was cancelled or skipped (missed entirely)."""

    booking_id: str = Field(min_length=1, max_length=64)
    user: str = Field(min_length=1, max_length=64, description="the end user who booked")
    app_id: str = Field(min_length=1, max_length=64)
    app_name: str = Field(min_length=1, max_length=64)
    location: str = Field(min_length=1, max_length=255)
    kind: BookingEventKind
    window_start: datetime
    window_end: datetime
    instance_id: str | None = Field(default=None, max_length=64)
    url: str | None = Field(default=None, max_length=2048, description="the app's page, once started")
    detail: str = Field(default="", max_length=2000)
    at: datetime


@contract("schedule-request", topic=topics.SCHEDULE)
class ScheduleRequest(Message):
    """The gateway tells the scheduler a booking was created or cancelled (it then reads the store)."""

    booking_id: str = Field(min_length=1, max_length=64)
    change: Literal["created", "cancelled"]
    at: datetime
