"""Apps from the command line: `canopy app upload|list|show|remove|instances|run|stop|url`."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
from platform_sdk._client import default_client

from bootstrap.commands.app_instances import instances
from bootstrap.commands.app_run import RUN_COMMANDS
from bootstrap.commands.model import upload_package
from bootstrap.commands.output import print_table, reports_errors

SUMMARY_COLUMNS = ["id", "name", "version", "format", "devices", "models", "page", "owner"]
SHOWN_FIELDS = [
    "id",
    "name",
    "version",
    "description",
    "format",
    "owner",
    "entry",
    "page",
    "database",
    "size",
]


def _app_path(app_id: str) -> str:
    """The REST path of one app."""
    return f"/api/v1/apps/{quote(app_id, safe='')}"


def _summary(app: dict[str, Any]) -> dict[str, Any]:
    """A list row: roles as name:TYPE, models as name, the page as its port."""
    return {
        **app,
        "devices": [f"{role['name']}:{role['type']}" for role in app["devices"]],
        "models": [model["name"] for model in app["models"]],
        "page": app["page"]["port"] if app["page"] else "-",
    }


@click.group()
def app() -> None:
    """Upload and inspect app packages."""


@app.command("upload")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@reports_errors
def app_upload(path: Path) -> None:
    """Upload the app package at PATH (a .zip or a folder, which is zipped); prints the new id last."""
    reply = upload_package(path, "/api/v1/apps")
    roles = ", ".join(f"{role['name']} ({role['type']})" for role in reply["devices"]) or "no devices"
    click.echo(f"Uploaded {reply['name']} {reply['version']} ({reply['format']} format; {roles}).")
    click.echo(reply["id"])


@app.command("list")
@reports_errors
def app_list() -> None:
    """List apps."""
    with closing(default_client()) as client:
        apps = client.get("/api/v1/apps")["apps"]
    print_table([_summary(found) for found in apps], SUMMARY_COLUMNS)


@app.command("show")
@click.argument("app_id")
@reports_errors
def app_show(app_id: str) -> None:
    """Show app APP_ID with the device roles and models it declares."""
    with closing(default_client()) as client:
        reply: dict[str, Any] = client.get(_app_path(app_id))
    for field in SHOWN_FIELDS:
        value = reply[field]
        click.echo(f"{field}: {value['port'] if field == 'page' and value else value}")
    click.echo("\ndevices:")
    print_table(reply["devices"], ["name", "type", "kind", "exclusive"])
    click.echo("\nmodels:")
    print_table(reply["models"], ["name", "ref", "version", "model_id"])


@app.command("remove")
@click.argument("app_id")
@reports_errors
def app_remove(app_id: str) -> None:
    """Remove app APP_ID (its owner or a platform_admin; refused while instances of it exist)."""
    with closing(default_client()) as client:
        client.delete(_app_path(app_id))
    click.echo(f"Removed app {app_id}.")


for command in (instances, *RUN_COMMANDS):
    app.add_command(command)
