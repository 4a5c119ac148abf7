"""Bookings from the command line: `canopy booking add|list|show|cancel`."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click
from platform_sdk._client import default_client

from bootstrap.commands.output import print_table, reports_errors

LIST_COLUMNS = ["id", "app", "location", "schedule", "tz", "status", "next", "user"]


def _path(booking_id: str) -> str:
    return f"/api/v1/bookings/{quote(booking_id, safe='')}"


def _next(view: dict[str, Any]) -> str:
    window = view.get("next_window")
    return f"{window['start']} to {window['end']}" if window else "-"


def _print(view: dict[str, Any]) -> None:
    """A booking as a few lines: schedule, zone, span, reserved devices and the latest windows."""
    click.echo(
        f"Booking {view['id']} of {view['app']} ({view['app_id']}) at {view['location']} for {view['user']}"
    )
    click.echo(f"  schedule: {view['schedule']} ({view['tz']}), {view['windows']} window(s)")
    click.echo(f"  from {view['from']} until {view['until']}; status {view['status']}")
    click.echo(f"  next window: {_next(view)}")
    for role, binding in view["bindings"].items():
        held = " (exclusive)" if binding.get("exclusive") else ""
        click.echo(f"  {role}: {binding['device']}{held}")
    for row in view.get("window_records", []):
        outcome = f" {row['outcome']}" if row["outcome"] else ""
        click.echo(
            f"  window {row['start']}: {row['state']}{outcome} {row['instance_id'] or ''} {row['detail']}"
        )


@click.group()
def booking() -> None:
    """Book an app at a location for a time window: once, daily or by a cron expression."""


@booking.command("add")
@click.argument("app_id")
@click.option("--location", required=True, metavar="PATH", help="Where, e.g. hyd/plant.")
@click.option("--start", help="Once: the start, e.g. 2025-06-01T09:00 (in --tz unless it has an offset).")
@click.option("--end", help="Once: the end.")
@click.option(
    "--daily", metavar="HH:MM-HH:MM", help="Every day a window, e.g. 22:00-06:00 (crosses midnight)."
)
@click.option("--days", metavar="DAYS", help="With --daily: weekdays, e.g. mon-fri or sat,sun (default all).")
@click.option("--cron", metavar="EXPR", help="A window at each fire time of 'minute hour day month weekday'.")
@click.option(
    "--duration", metavar="LENGTH", help="With --cron: how long each window lasts, e.g. 30m or 1h30m."
)
@click.option("--tz", metavar="AREA/CITY", help="IANA time zone of the times (default: your account's).")
@click.option("--from", "first", metavar="WHEN", help="Daily/cron: the first window starts at or after this.")
@click.option("--until", metavar="WHEN", help="Daily/cron: no window starts at or after this.")
@reports_errors
def add(app_id: str, location: str, **options: str | None) -> None:
    """Book APP_ID at --location: --start/--end, --daily [--days], or --cron --duration."""
    names = {"first": "from"}
    body: dict[str, Any] = {"app": app_id, "location": location}
    body.update({names.get(key, key): value for key, value in options.items() if value is not None})
    _print(default_client().post("/api/v1/bookings", json=body))


@booking.command("list")
@reports_errors
def list_bookings() -> None:
    """Your bookings (a platform_admin's: all), newest first."""
    found = default_client().get("/api/v1/bookings")["bookings"]
    print_table([{**view, "next": _next(view)} for view in found], LIST_COLUMNS)


@booking.command("show")
@click.argument("booking_id")
@reports_errors
def show(booking_id: str) -> None:
    """One booking, with what the scheduler did in its latest windows."""
    _print(default_client().get(_path(booking_id)))


@booking.command("cancel")
@click.argument("booking_id")
@reports_errors
def cancel(booking_id: str) -> None:
    """Cancel a booking; a window running now is stopped and its instance removed."""
    view = default_client().post(f"{_path(booking_id)}/cancel")
    click.echo(f"Booking {view['id']} is {view['status']}.")
