"""The booking pages: the book form (once, daily, cron), clashes, the week calendar, cancel, settings."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from canopy.apps.instances import create_instance
from canopy.bookings.records import Booking, BookingWindow
from canopy.bookings.repository import create_booking
from canopy.bookings.requests import Limits, parse_booking
from canopy.contracts import topics
from canopy.contracts.bookings import ScheduleRequest
from canopy.deployments.tables import Deployment, Replica
from canopy.roles import Role
from canopy.runtime.backends import Backends
from canopy.store.models import User
from services.gateway import accounts
from tests.app_world import ROOM, add_app, manifest, seed_devices
from tests.booking_world import PAGE_PORT, drain
from tests.functional.portal.app_world import text
from tests.functional.portal.conftest import PORTAL_PASSWORD, user_name
from tests.portal_forms import PortalBrowser

SignIn = Callable[[Role], PortalBrowser]
BERLIN = "Europe/Berlin"
BOOKING_ID = re.compile(r"/portal/bookings/(b[0-9a-f]{14})")
HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')
LIMITS = Limits(max_length=timedelta(hours=24), horizon=timedelta(days=31))
COMPARED = ("app_id", "location", "kind", "spec", "tz", "from", "until", "last_end", "windows", "bindings")


@pytest.fixture()
def app_id(backends: Backends, portal_users: dict[Role, str]) -> str:
    """The devices of tests.app_world and an app with a page, a thermometer and an exclusive fan."""
    seed_devices(backends)
    document = manifest("unused", page={"port": PAGE_PORT}, models=[])
    return add_app(backends, user_name(Role.APP_DEVELOPER), document)


def _mallory(backends: Backends, browser: PortalBrowser) -> PortalBrowser:
    """A second end user, signed in."""
    with backends.store.session() as session:
        accounts.create_user(session, "mallory", Role.END_USER, PORTAL_PASSWORD)
    other = PortalBrowser(browser.client.application.test_client())
    other.sign_in("mallory", PORTAL_PASSWORD)
    return other


def _token(backends: Backends, name: str) -> dict[str, str]:
    with backends.store.session() as session:
        secret = accounts.issue_token(session, accounts.find_user(session, name), timedelta(hours=1)).secret
    return {"Authorization": f"Bearer {secret}"}


def _count(backends: Backends) -> int:
    with backends.store.session() as session:
        return session.scalar(select(func.count()).select_from(Booking)) or 0


def _local(days: int = 0, hours: int = 2, zone: str = BERLIN) -> datetime:
    """A whole hour some time ahead, on the wall clock of `zone`."""
    now = datetime.now(ZoneInfo(zone)).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    return now + timedelta(days=days, hours=hours)


def _book(browser: PortalBrowser, app_id: str, form: dict[str, Any]) -> Any:
    browser.get(f"/portal/catalog/{app_id}")
    return browser.post(f"/portal/catalog/{app_id}/book", {"location": ROOM, "tz": BERLIN, **form})


def _booked(reply: Any) -> str:
    assert reply.status_code == 303, text(reply.get_data(as_text=True))[-3000:]
    found = BOOKING_ID.search(reply.headers["Location"])
    assert found and reply.headers["Location"].endswith("?done=booked"), reply.headers["Location"]
    return found.group(1)


def _error(page: str, field: str) -> str:
    """The text of the error shown next to a field."""
    found = re.search(rf'id="{field}-error" role="alert">([^<]*)<', page)
    assert found, (field, page[page.find('id="book"') :][:4000])
    return found.group(1)


def test_each_book_form_creates_the_booking_the_rest_would(
    signed_in: SignIn, app_id: str, backends: Backends
) -> None:
    user = signed_in(Role.END_USER)
    page = text(user.get(f"/portal/catalog/{app_id}").get_data(as_text=True))
    assert 'action="/portal/catalog/' in page and '<option value="UTC" selected>' in page  # the user's zone
    headers = _token(backends, user_name(Role.END_USER))
    start = _local()
    first = _local(days=1).date()
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        (
            {
                "kind": "once",
                "start": f"{start:%Y-%m-%dT%H:%M}",
                "end": f"{start + timedelta(hours=1):%Y-%m-%dT%H:%M}",
            },
            {"start": f"{start:%Y-%m-%dT%H:%M}", "end": f"{start + timedelta(hours=1):%Y-%m-%dT%H:%M}"},
        ),
        (
            {
                "kind": "daily",
                "opens": "22:00",
                "closes": "06:00",
                "days": ["mon", "wed"],
                "from": first.isoformat(),
                "until": (first + timedelta(days=7)).isoformat(),
            },
            {
                "daily": "22:00-06:00",
                "days": "mon,wed",
                "from": f"{first}T00:00",
                "until": f"{first + timedelta(days=8)}T00:00",
            },
        ),
        (
            {"kind": "cron", "cron": "0 12 * * *", "duration": "30m", "from": first.isoformat()},
            {"cron": "0 12 * * *", "duration": "30m", "from": f"{first}T00:00"},
        ),
    ]
    for form, body in cases:
        rest = user.client.post(
            "/api/v1/bookings", json={"app": app_id, "location": ROOM, "tz": BERLIN, **body}, headers=headers
        )
        assert rest.status_code == 201, rest.get_json()
        expected = rest.get_json()
        assert (
            user.client.post(f"/api/v1/bookings/{expected['id']}/cancel", headers=headers).status_code == 200
        )
        booking_id = _booked(_book(user, app_id, form))
        shown = user.client.get(f"/api/v1/bookings/{booking_id}", headers=headers).get_json()
        if form["kind"] == "cron":  # both run from now until the horizon: the same up to a moment
            expected.pop("until"), shown.pop("until"), expected.pop("last_end"), shown.pop("last_end")
        assert {k: shown.get(k) for k in COMPARED} == {k: expected.get(k) for k in COMPARED}, form
        page = text(user.get(f"/portal/bookings/{booking_id}?done=booked").get_data(as_text=True))
        assert "Booked." in page and 'data-state="scheduled"' in page and "Cancel booking" in page
    requests = [m for m in drain(backends.bus, topics.SCHEDULE) if isinstance(m, ScheduleRequest)]
    assert [m.change for m in requests].count("created") == 6


def test_bad_input_shows_the_error_next_to_the_field_and_stores_nothing(
    signed_in: SignIn, app_id: str, backends: Backends
) -> None:
    user = signed_in(Role.END_USER)
    start, past = _local(), _local(hours=-3)
    once = {
        "kind": "once",
        "start": f"{start:%Y-%m-%dT%H:%M}",
        "end": f"{start + timedelta(hours=1):%Y-%m-%dT%H:%M}",
    }
    daily = {"kind": "daily", "opens": "09:00", "closes": "10:00", "days": ["mon"]}
    cases = [
        ({**once, "end": f"{start - timedelta(hours=1):%Y-%m-%dT%H:%M}"}, "end", "must be after the start"),
        (
            {**once, "start": f"{past:%Y-%m-%dT%H:%M}", "end": f"{past:%Y-%m-%dT%H:%M}"},
            "end",
            "after the start",
        ),
        ({**once, "start": f"{past:%Y-%m-%dT%H:%M}"}, "start", "is in the past"),
        ({**once, "end": f"{start + timedelta(hours=30):%Y-%m-%dT%H:%M}"}, "end", "at most 24 h"),
        ({**once, "start": "tomorrow"}, "start", "is not a date-time"),
        ({**once, "tz": "Mars/Olympus"}, "tz", "not an IANA time zone"),
        ({**once, "kind": "weekly"}, "kind", "not one of once, daily, cron"),
        ({**daily, "days": []}, "days", "tick at least one weekday"),
        ({**daily, "opens": "25:00"}, "daily", "is not a time HH:MM"),
        ({**daily, "until": "someday"}, "until", "is not a date"),
        ({**daily, "opens": "09:00", "closes": "09:00"}, "daily", "same time"),
        ({"kind": "cron", "cron": "0 9 30 2 *", "duration": "5m"}, "cron", "opens no window"),
        ({"kind": "cron", "cron": "every day", "duration": "5m"}, "cron", "not a cron expression"),
        (
            {
                "kind": "cron",
                "cron": "*/5 * * * *",
                "duration": "10m",
                "until": _local(days=1).date().isoformat(),
            },
            "duration",
            "make the duration shorter",
        ),
        ({"kind": "cron", "cron": "0 9 * * *", "duration": "soon"}, "duration", "not a duration"),
    ]
    for form, field, problem in cases:
        reply = _book(user, app_id, form)
        page = text(reply.get_data(as_text=True))
        assert reply.status_code == 400, (form, page[-2000:])
        assert problem in _error(page, field), (form, _error(page, field))
        assert 'id="book"' in page
    nowhere = _book(user, app_id, {**once, "location": "hyd/nowhere"})
    page = text(nowhere.get_data(as_text=True))
    assert nowhere.status_code == 422 and "no THERMOMETER at hyd/nowhere" in _error(page, "location")
    # What was typed is shown again.
    again = text(
        _book(user, app_id, {**daily, "opens": "25:00", "days": ["tue", "sat"]}).get_data(as_text=True)
    )
    assert 'value="25:00"' in again and 'value="tue" checked' in again and 'value="mon" checked' not in again
    assert _book(user, "a-missing", once).status_code == 404
    assert _count(backends) == 0


def test_a_clash_shows_the_booking_in_the_way_and_books_the_next_free_slot_in_one_click(
    signed_in: SignIn, app_id: str, backends: Backends
) -> None:
    user = signed_in(Role.END_USER)
    start = _local(hours=3)
    hour = timedelta(hours=1)
    first = _booked(
        _book(
            user,
            app_id,
            {"kind": "once", "start": f"{start:%Y-%m-%dT%H:%M}", "end": f"{start + hour:%Y-%m-%dT%H:%M}"},
        )
    )
    mallory = _mallory(backends, user)
    late = start + timedelta(minutes=30)
    clash = _book(
        mallory,
        app_id,
        {"kind": "once", "start": f"{late:%Y-%m-%dT%H:%M}", "end": f"{late + hour:%Y-%m-%dT%H:%M}"},
    )
    page = text(clash.get_data(as_text=True))
    assert clash.status_code == 409, page[-2000:]
    box = page[page.index('id="conflict"') :]
    assert f'<code id="conflict-booking">{first}</code>' in box and f"booking {first} (fan-monitor for" in box
    free = start + hour
    slot = f"{free:%a %Y-%m-%d %H:%M} to {free + hour:%a %Y-%m-%d %H:%M}"
    assert f"Next free slot: <strong>{slot}</strong> (Europe/Berlin)" in box
    form = box[box.index('id="next-free"') : box.index("</form>")]
    fields = dict(HIDDEN.findall(form))
    assert fields["kind"] == "once" and fields["location"] == ROOM and fields["tz"] == BERLIN
    assert _count(backends) == 1
    # One click: the hidden form's fields, as the browser posts them.
    taken = mallory.post(
        f"/portal/catalog/{app_id}/book", {k: v for k, v in fields.items() if k != "csrf_token"}
    )
    second = _booked(taken)
    with backends.store.session() as session:
        booked = session.get(Booking, second)
        assert booked is not None and booked.user.name == "mallory"
        zone = ZoneInfo(BERLIN)
        assert booked.first_start.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None) == free


def _stored_booking(backends: Backends, user: str, app_id: str, body: dict[str, Any], now: datetime) -> str:
    """A booking made as if at `now` (the calendar shows any week, past ones too)."""
    with backends.store.session() as session:
        user_id = accounts.find_user(session, user).id
    request = parse_booking({"app": app_id, "location": ROOM, **body}, "UTC", now, LIMITS)
    return create_booking(backends.store, user_id, request, now, LIMITS).id


def _day(page: str, day: str) -> str:
    cell = page[page.index(f'id="day-{day}"') :]
    return cell[: cell.index("</td>")]


def test_the_week_view_places_windows_in_their_day_across_a_dst_change(
    signed_in: SignIn, app_id: str, backends: Backends
) -> None:
    # Europe/Berlin springs forward on Sunday 2025-03-30: 09:00 is 08:00 UTC before and 07:00 UTC after.
    now = datetime(2025, 3, 25, tzinfo=UTC)
    body = {"daily": "09:00-10:00", "tz": BERLIN, "from": "2025-03-27T00:00", "until": "2025-04-03T00:00"}
    booking_id = _stored_booking(backends, user_name(Role.END_USER), app_id, body, now)
    night = {"daily": "23:30-00:30", "tz": BERLIN, "from": "2025-03-29T00:00", "until": "2025-03-30T00:00"}
    _stored_booking(backends, user_name(Role.END_USER), app_id, night, now)
    user = signed_in(Role.END_USER)
    page = text(user.get("/portal/bookings?week=2025-03-28").get_data(as_text=True))
    assert "Fri 28 Mar 2025 to Thu 03 Apr 2025" in page
    assert "08:00-09:00" in _day(page, "2025-03-29") and "07:00-08:00" in _day(page, "2025-03-30")
    assert "08:00-09:00" in _day(page, "2025-03-28") and "07:00-08:00" in _day(page, "2025-04-02")
    assert "22:30-23:30" in _day(page, "2025-03-29")  # 23:30 CET to 00:30 CET is one UTC day
    assert f'data-booking="{booking_id}"' in _day(page, "2025-03-30")
    assert "fan-monitor" not in _day(page, "2025-04-03")  # until is exclusive: its last window is 04-02
    assert (
        'href="/portal/bookings?week=2025-03-21"' in page
        and 'href="/portal/bookings?week=2025-04-04"' in page
    )
    # In the viewer's own zone Berlin, the windows stay at 09:00 on both sides of the change.
    user.get("/portal/account")
    assert user.post("/portal/account/settings", {"timezone": BERLIN, "email": ""}).status_code == 303
    berlin = text(user.get("/portal/bookings?week=2025-03-28").get_data(as_text=True))
    for day in ("2025-03-29", "2025-03-30", "2025-03-31"):
        assert "09:00-10:00" in _day(berlin, day), day
    assert "23:30-Sun 00:30" in _day(berlin, "2025-03-29")
    earlier = text(user.get("/portal/bookings?week=2025-03-14").get_data(as_text=True))
    assert "fan-monitor" not in earlier[earlier.index('id="week"') : earlier.index("</table>")]


def test_the_calendar_list_pages_and_filters_and_shows_a_user_only_their_own(
    signed_in: SignIn, app_id: str, backends: Backends
) -> None:
    now = datetime.now(UTC)
    later = now + timedelta(days=1)
    for number in range(51):
        start = later + timedelta(hours=number)
        _stored_booking(
            backends,
            user_name(Role.END_USER),
            app_id,
            {"start": start.isoformat(), "end": (start + timedelta(minutes=30)).isoformat()},
            now,
        )
    user = signed_in(Role.END_USER)
    first = text(user.get("/portal/bookings").get_data(as_text=True))
    assert "51 in all · page 1 of 2" in first and first.count('<tr id="booking-') == 50
    assert "Your bookings" in first and 'href="/portal/bookings"' in first  # the menu entry
    assert text(user.get("/portal/bookings?page=2").get_data(as_text=True)).count('<tr id="booking-') == 1
    assert "No bookings match." in text(user.get("/portal/bookings?q=nothing-like-it").get_data(as_text=True))
    assert "51 in all" in text(user.get("/portal/bookings?q=fan-mon").get_data(as_text=True))
    mallory = _mallory(backends, user)
    assert "No bookings." in text(mallory.get("/portal/bookings").get_data(as_text=True))
    admin = text(signed_in(Role.PLATFORM_ADMIN).get("/portal/bookings").get_data(as_text=True))
    assert "All bookings" in admin and "51 in all" in admin and user_name(Role.END_USER) in admin
    for role in (Role.APP_DEVELOPER, Role.AI_DEVELOPER):
        assert signed_in(role).get("/portal/bookings").status_code == 403


def test_another_users_booking_is_refused_and_an_admin_sees_and_cancels_any(
    signed_in: SignIn, app_id: str, backends: Backends
) -> None:
    user = signed_in(Role.END_USER)
    mallory = _mallory(backends, user)
    start = _local(hours=5)
    theirs = _booked(
        _book(
            mallory,
            app_id,
            {
                "kind": "once",
                "start": f"{start:%Y-%m-%dT%H:%M}",
                "end": f"{start + timedelta(hours=1):%Y-%m-%dT%H:%M}",
            },
        )
    )
    assert user.get(f"/portal/bookings/{theirs}").status_code == 403
    user.get("/portal/bookings")
    assert user.post(f"/portal/bookings/{theirs}/cancel").status_code == 403
    assert user.get("/portal/bookings/b-missing").status_code == 404
    assert theirs not in user.get("/portal/bookings").get_data(as_text=True)
    admin = signed_in(Role.PLATFORM_ADMIN)
    assert theirs in admin.get("/portal/bookings").get_data(as_text=True)
    shown = admin.get(f"/portal/bookings/{theirs}")
    assert shown.status_code == 200 and "mallory" in shown.get_data(as_text=True)
    cancelled = admin.post(f"/portal/bookings/{theirs}/cancel")
    assert cancelled.status_code == 303 and cancelled.headers["Location"].endswith(
        f"/{theirs}?done=cancelled"
    )
    assert signed_in(Role.APP_DEVELOPER).get(f"/portal/bookings/{theirs}").status_code == 403


def test_a_running_window_shows_open_and_cancel_stops_it_as_rest_does(
    signed_in: SignIn, app_id: str, backends: Backends
) -> None:
    user = signed_in(Role.END_USER)
    start = _local(hours=1)
    booking_id = _booked(
        _book(
            user,
            app_id,
            {
                "kind": "once",
                "start": f"{start:%Y-%m-%dT%H:%M}",
                "end": f"{start + timedelta(hours=1):%Y-%m-%dT%H:%M}",
            },
        )
    )
    # What the scheduler writes when the window opens: an instance on the reserved devices, running.
    with backends.store.session() as session:
        booking = session.get(Booking, booking_id)
        assert booking is not None
        window_start, window_end, user_id = booking.first_start, booking.last_end, booking.user_id
    instance = create_instance(backends.store, app_id, user_id, ROOM, {"fan": "fan-1"})
    with backends.store.session() as session:
        session.add(
            BookingWindow(
                booking_id=booking_id,
                start=window_start,
                end=window_end,
                state="running",
                instance_id=instance.id,
            )
        )
        session.add(Deployment(model_id=instance.id, generation=1, desired_replicas=1, status="running"))
        session.add(
            Replica(
                workload_id="w1",
                model_id=instance.id,
                generation=1,
                node_id="n1",
                endpoint="http://127.0.0.1:9",
                state="ready",
            )
        )
    page = text(user.get(f"/portal/bookings/{booking_id}").get_data(as_text=True))
    assert f'<a class="open" href="/apps/{instance.id}/">Open</a>' in page and 'data-state="running"' in page
    # Times in the viewer's zone (UTC), not Berlin's.
    assert f"{start + timedelta(hours=1):%a %Y-%m-%d %H:%M}" not in page
    assert f"{start.replace(tzinfo=ZoneInfo(BERLIN)).astimezone(UTC):%a %Y-%m-%d %H:%M}" in page
    cancelled = user.post(f"/portal/bookings/{booking_id}/cancel")
    assert cancelled.status_code == 303
    after = text(user.get(cancelled.headers["Location"]).get_data(as_text=True))
    assert "The booking was cancelled" in after and '<dd id="booking-status">cancelled</dd>' in after
    assert "Cancel booking" not in after
    requests = [m for m in drain(backends.bus, topics.SCHEDULE) if isinstance(m, ScheduleRequest)]
    assert [(m.booking_id, m.change) for m in requests] == [
        (booking_id, "created"),
        (booking_id, "cancelled"),
    ]
    assert user.post(f"/portal/bookings/{booking_id}/cancel").status_code == 303  # again: nothing changes
    assert len(drain(backends.bus, topics.SCHEDULE)) == 2


def test_the_account_page_sets_the_time_zone_and_email_as_the_api_does(
    signed_in: SignIn, backends: Backends
) -> None:
    user = signed_in(Role.END_USER)
    page = text(user.get("/portal/account").get_data(as_text=True))
    assert '<option value="UTC" selected>' in page and '<option value="Europe/Berlin">' in page
    saved = user.post("/portal/account/settings", {"timezone": BERLIN, "email": "eve@example.org"})
    assert saved.status_code == 303 and saved.headers["Location"].endswith("/portal/account?done=settings")
    shown = text(user.get("/portal/account?done=settings").get_data(as_text=True))
    assert "were saved" in shown and '<option value="Europe/Berlin" selected>' in shown
    assert 'value="eve@example.org"' in shown
    for form, field, problem in (
        ({"timezone": "Not/AZone", "email": ""}, "timezone", "not an IANA time zone"),
        ({"timezone": BERLIN, "email": "no-at-sign"}, "email", "expected an address"),
    ):
        reply = user.post("/portal/account/settings", form)
        page = text(reply.get_data(as_text=True))
        assert reply.status_code == 400 and problem in _error(page, field), page[-2000:]
    with backends.store.session() as session:
        stored = session.scalars(select(User).where(User.name == user_name(Role.END_USER))).one()
        assert (stored.timezone, stored.email) == (BERLIN, "eve@example.org")
    assert user.post("/portal/account/settings", {"timezone": "UTC", "email": ""}).status_code == 303
    with backends.store.session() as session:
        stored = session.scalars(select(User).where(User.name == user_name(Role.END_USER))).one()
        assert (stored.timezone, stored.email) == ("UTC", None)
    assert signed_in(Role.AI_DEVELOPER).get("/portal/account").status_code == 200
