"""`canopy app instances`, and creating an instance from --location and --bind (used by `canopy app run`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import click
from platform_sdk._client import ApiClient, default_client

from bootstrap.commands.output import parse_labels, print_table, reports_errors

F = TypeVar("F", bound=Callable[..., Any])


def instance_options(command: F) -> F:
    """The --location and repeated --bind role=device options of commands that create an instance."""
    command = click.option(
        "--bind",
        "binds",
        multiple=True,
        metavar="ROLE=DEVICE",
        help="Bind a role to this device instead of the nearest one (repeatable).",
    )(command)
    return click.option(
        "--location", required=True, metavar="PATH", help="Where to bind, e.g. hyd/plant/room-1."
    )(command)


def create_instance(client: ApiClient, app_id: str, location: str, binds: tuple[str, ...]) -> dict[str, Any]:
    """Create an instance of `app_id` at `location` with explicit `binds`; print its bindings, return it."""
    body: dict[str, Any] = {"location": location}
    if binds:
        body["bind"] = parse_labels(binds, "--bind")
    view: dict[str, Any] = client.post(f"/api/v1/apps/{quote(app_id, safe='')}/instances", json=body)
    click.echo(f"Created instance {view['id']} of {view['app']} at {view['location']}:")
    for role, binding in view["bindings"].items():
        held = " (held exclusively)" if binding["device"] in view.get("holds", []) else ""
        click.echo(f"  {role}: {binding['device']} ({binding['type']} {binding['kind']}){held}")
    for name, model_id in view["models"].items():
        click.echo(f"  model {name}: {model_id}")
    return view


def _devices(view: dict[str, Any]) -> str:
    """role=device pairs of an instance, by role name, for the list."""
    return ", ".join(f"{role}={binding['device']}" for role, binding in sorted(view["bindings"].items()))


@click.command("instances")
@reports_errors
def instances() -> None:
    """List your app instances (a platform_admin's: all) with their location, status and bindings."""
    found = default_client().get("/api/v1/app-instances")["instances"]
    rows = [{**view, "devices": _devices(view)} for view in found]
    print_table(rows, ["id", "app", "location", "status", "owner", "devices"])
