"""Bookings over REST on the embedded backends: forms, validation, conflicts, who sees what, settings."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient

from canopy import devices
from canopy.contracts import topics
from canopy.contracts.bookings import ScheduleRequest
from canopy.roles import Role
from canopy.runtime.backends import Backends
from services.gateway import accounts
from tests.app_world import ROOM
from tests.booking_world import booking_app, drain, iso, once, soon
from tests.functional.conftest import bearer

World = dict[str, Any]
HOUR = timedelta(hours=1)


@pytest.fixture()
def world(client: FlaskClient, backends: Backends, role_tokens: dict[Role, str]) -> World:
    """The fan app and tokens: end_user, platform_admin, app_developer and a second end user, mallory."""
    app_id = booking_app(client, backends, role_tokens[Role.AI_DEVELOPER])
    with backends.store.session() as session:
        mallory = accounts.create_user(session, "mallory", Role.END_USER, "password-123")
        other = accounts.issue_token(session, mallory, timedelta(hours=1)).secret
    tokens = {role.value: bearer(token) for role, token in role_tokens.items()}
    return {"app_id": app_id, "mallory": bearer(other), **tokens}


def book(client: FlaskClient, world: World, body: dict[str, Any], who: str = "end_user") -> Any:
    return client.post("/api/v1/bookings", json=body, headers=world[who])


def test_a_once_booking_reserves_the_devices_and_tells_the_scheduler(
    client: FlaskClient, backends: Backends, world: World
) -> None:
    start = soon()
    reply = book(client, world, once(world["app_id"], start, HOUR))
    assert reply.status_code == 201, reply.get_json()
    view = reply.get_json()
    assert view["status"] == "active" and view["kind"] == "once" and view["user"] == "user-end-user"
    assert view["bindings"]["fan"] == {
        "device": "fan-1",
        "type": "SMARTFAN",
        "kind": "controller",
        "exclusive": True,
    }
    assert view["next_window"] == {"start": iso(start), "end": iso(start + HOUR)}
    requests = [m for m in drain(backends.bus, topics.SCHEDULE) if isinstance(m, ScheduleRequest)]
    assert [(m.booking_id, m.change) for m in requests] == [(view["id"], "created")]


def test_daily_and_cron_bookings_use_the_users_time_zone(client: FlaskClient, world: World) -> None:
    settings = client.put("/api/v1/account", json={"timezone": "Europe/Berlin"}, headers=world["end_user"])
    assert settings.status_code == 200 and settings.get_json()["timezone"] == "Europe/Berlin"
    tomorrow = (datetime.now(ZoneInfo("Europe/Berlin")) + timedelta(days=1)).date()
    body = {"app": world["app_id"], "location": ROOM, "daily": "22:00-06:00", "days": "mon-sun"}
    daily = book(client, world, {**body, "from": f"{tomorrow}T00:00", "until": f"{tomorrow}T23:59"})
    assert daily.status_code == 201, daily.get_json()
    view = daily.get_json()
    assert view["tz"] == "Europe/Berlin" and view["windows"] == 1
    opens = datetime.fromisoformat(view["next_window"]["start"]).astimezone(ZoneInfo("Europe/Berlin"))
    assert (opens.hour, opens.minute) == (22, 0)
    cron = {"app": world["app_id"], "location": ROOM, "cron": "0 3 * * *", "duration": "30m", "tz": "UTC"}
    cron_reply = book(client, world, {**cron, "from": f"{tomorrow + timedelta(days=2)}T00:00"})
    assert cron_reply.status_code == 201, cron_reply.get_json()
    assert cron_reply.get_json()["tz"] == "UTC"


def test_bad_bookings_are_refused_with_the_field_and_nothing_stored(
    client: FlaskClient, world: World
) -> None:
    app_id = world["app_id"]
    past = datetime.now(UTC) - timedelta(hours=2)
    cases = [
        (once(app_id, past, HOUR), 400, "start"),
        ({**once(app_id, soon(), HOUR), "end": iso(soon() - HOUR)}, 400, "end"),
        (once(app_id, soon(), timedelta(hours=30)), 400, "end"),
        ({"app": app_id, "location": ROOM, "cron": "0 9 30 2 *", "duration": "5m"}, 400, "cron"),
        ({"app": app_id, "location": ROOM, "daily": "25:00-26:00"}, 400, "daily"),
        ({"app": app_id, "location": ROOM}, 400, "schedule"),
        ({**once(app_id, soon(), HOUR), "tz": "Mars/Olympus"}, 400, "tz"),
    ]
    for body, status, field in cases:
        reply = book(client, world, body)
        assert reply.status_code == status, (body, reply.get_json())
        assert field in reply.get_json()["error"].get("details", {}), reply.get_json()
    nowhere = book(client, world, once(app_id, soon(), HOUR, location="hyd/nowhere"))
    assert (
        nowhere.status_code == 422
        and "no THERMOMETER at hyd/nowhere" in nowhere.get_json()["error"]["message"]
    )
    unknown = book(client, world, {**once(app_id, soon(), HOUR), "app": "a-missing"})
    assert unknown.status_code == 404
    developer = book(client, world, once(app_id, soon(), HOUR), who="app_developer")
    assert developer.status_code == 403
    assert client.get("/api/v1/bookings", headers=world["end_user"]).get_json()["bookings"] == []


def test_an_overlapping_booking_of_the_exclusive_fan_gets_409_with_the_next_free_slot(
    client: FlaskClient, world: World
) -> None:
    start = soon(3600)
    first = book(client, world, once(world["app_id"], start, HOUR)).get_json()
    clash = book(client, world, once(world["app_id"], start + timedelta(minutes=30), HOUR), who="mallory")
    assert clash.status_code == 409, clash.get_json()
    error = clash.get_json()["error"]
    assert error["details"]["conflict"] == first["id"] and first["id"] in error["message"]
    assert error["details"]["next_free"] == {"start": iso(start + HOUR), "end": iso(start + 2 * HOUR)}
    after = book(client, world, once(world["app_id"], start + HOUR, HOUR), who="mallory")
    assert after.status_code == 201  # touching windows do not overlap
    again = book(client, world, once(world["app_id"], start + timedelta(minutes=30), HOUR), who="mallory")
    assert again.get_json()["error"]["details"]["next_free"]["start"] == iso(start + 2 * HOUR)
    cancelled = client.post(f"/api/v1/bookings/{first['id']}/cancel", headers=world["end_user"])
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    freed = book(client, world, once(world["app_id"], start, HOUR), who="mallory")
    assert freed.status_code == 201, freed.get_json()


def test_a_soon_booking_avoids_a_controller_held_by_an_instance_run_outside_bookings(
    client: FlaskClient, backends: Backends, world: World
) -> None:
    held = client.post(
        f"/api/v1/apps/{world['app_id']}/instances", json={"location": ROOM}, headers=world["mallory"]
    )
    assert held.status_code == 201, held.get_json()
    instance_id = held.get_json()["id"]
    clash = book(client, world, once(world["app_id"], soon(60), HOUR))
    assert clash.status_code == 409, clash.get_json()
    error = clash.get_json()["error"]
    assert error["details"]["conflict"] == instance_id and "fan-1" in error["message"]
    assert instance_id in error["message"] and error["details"]["next_free"] is not None
    free = datetime.fromisoformat(error["details"]["next_free"]["start"])
    assert free >= datetime.now(UTC) + timedelta(minutes=29)
    later = book(client, world, once(world["app_id"], soon(3 * 3600), HOUR))
    assert later.status_code == 201, later.get_json()  # holds taken now do not reach that far
    with backends.store.session() as session:
        devices.create_device(
            session, devices.parse_device({"id": "fan-2", "type": "SMARTFAN", "location": ROOM})
        )
    other = book(client, world, once(world["app_id"], soon(60), HOUR))
    assert other.status_code == 201, other.get_json()
    assert other.get_json()["bindings"]["fan"]["device"] == "fan-2"


def test_a_daily_booking_conflicts_with_a_once_booking_on_one_of_its_nights(
    client: FlaskClient, world: World
) -> None:
    night = (datetime.now(UTC) + timedelta(days=2)).replace(hour=23, minute=0, second=0, microsecond=0)
    book(client, world, once(world["app_id"], night, HOUR))
    daily = {"app": world["app_id"], "location": ROOM, "daily": "22:00-06:00", "tz": "UTC"}
    clash = book(client, world, daily, who="mallory")
    assert clash.status_code == 409
    assert clash.get_json()["error"]["details"]["window"]["start"] == iso(night - HOUR)


def test_of_two_concurrent_overlapping_bookings_exactly_one_wins(client: FlaskClient, world: World) -> None:
    start, statuses = soon(7200), []

    def attempt(who: str) -> None:
        statuses.append(book(client, world, once(world["app_id"], start, HOUR), who=who).status_code)

    threads = [
        threading.Thread(target=attempt, args=(who,)) for who in ("end_user", "mallory", "platform_admin")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 409, 409]


def test_users_see_and_cancel_their_own_bookings_and_admins_all(client: FlaskClient, world: World) -> None:
    mine = book(client, world, once(world["app_id"], soon(), HOUR)).get_json()["id"]
    theirs = book(client, world, once(world["app_id"], soon(3 * 3600), HOUR), who="mallory").get_json()["id"]

    def listed(who: str) -> set[str]:
        return {b["id"] for b in client.get("/api/v1/bookings", headers=world[who]).get_json()["bookings"]}

    assert listed("end_user") == {mine} and listed("mallory") == {theirs}
    assert listed("platform_admin") == {mine, theirs}
    assert client.get(f"/api/v1/bookings/{theirs}", headers=world["end_user"]).status_code == 403
    assert client.delete(f"/api/v1/bookings/{theirs}", headers=world["end_user"]).status_code == 403
    assert client.get(f"/api/v1/bookings/{mine}", headers=world["platform_admin"]).status_code == 200
    assert client.delete(f"/api/v1/bookings/{theirs}", headers=world["platform_admin"]).status_code == 200
    assert client.get("/api/v1/bookings/b-missing", headers=world["end_user"]).status_code == 404


def test_account_settings_are_validated(client: FlaskClient, world: World) -> None:
    good = client.put(
        "/api/v1/account",
        json={"timezone": "America/New_York", "email": "eve@example.org"},
        headers=world["end_user"],
    )
    assert good.status_code == 200 and good.get_json()["email"] == "eve@example.org"
    for body, field in (
        ({"timezone": "Not/AZone"}, "timezone"),
        ({"email": "no-at-sign"}, "email"),
        ({"email": "a@b.org\r\nBcc: x@y.org"}, "email"),
        ({"colour": "blue"}, "colour"),
    ):
        reply = client.put("/api/v1/account", json=body, headers=world["end_user"])
        assert reply.status_code == 400 and field in reply.get_json()["error"]["details"], reply.get_json()
    shown = client.get("/api/v1/account", headers=world["end_user"]).get_json()
    assert shown["timezone"] == "America/New_York" and shown["email"] == "eve@example.org"
    cleared = client.put("/api/v1/account", json={"email": ""}, headers=world["end_user"])
    assert cleared.get_json()["email"] is None
