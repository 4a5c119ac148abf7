"""`canopy app run|stop|url`: deploy an app instance now, stop it, and show where its page is served."""

from __future__ import annotations

from contextlib import closing
from typing import Any
from urllib.parse import quote

import click
from platform_sdk._client import ApiClient, default_client

from bootstrap.commands.app_instances import create_instance, instance_options
from bootstrap.commands.deployment import follow
from bootstrap.commands.output import parse_labels, reports_errors
from canopy.errors import CanopyError


def instance_path(instance_id: str, suffix: str) -> str:
    """The API path of an app instance's route."""
    return f"/api/v1/app-instances/{quote(instance_id, safe='')}{suffix}"


def start_and_follow(client: ApiClient, instance_id: str, labels: dict[str, str]) -> dict[str, Any]:
    """Start the instance and print its progress until it runs; CanopyError when it failed."""
    reply = client.post(instance_path(instance_id, "/start"), json={"node_labels": labels})
    view_path = instance_path(instance_id, "/deployment")
    view = follow(client, instance_id, reply["generation"], view_path=view_path)
    if view["status"] == "failed":
        raise CanopyError(
            f"app instance {instance_id} failed to start: {view['message']}; after fixing the app, "
            f"start it again with POST {instance_path(instance_id, '/start')}"
        )
    return view


@click.command("run")
@click.argument("app_id")
@instance_options
@click.option("--node-label", "node_labels", multiple=True, help="Only nodes with this label, key=value.")
@reports_errors
def run(app_id: str, location: str, binds: tuple[str, ...], node_labels: tuple[str, ...]) -> None:
    """Create an instance of app APP_ID at --location and run it now; prints the instance id last."""
    labels = parse_labels(node_labels, "--node-label")
    with closing(default_client()) as client:
        instance_id = create_instance(client, app_id, location, binds)["id"]
        view = start_and_follow(client, instance_id, labels)
    if view.get("page_url"):
        click.echo(f"Its page: {view['page_url']}")
    click.echo(instance_id)


@click.command("stop")
@click.argument("instance_id")
@reports_errors
def stop(instance_id: str) -> None:
    """Stop app instance INSTANCE_ID and wait until its workload is removed."""
    with closing(default_client()) as client:
        reply = client.post(instance_path(instance_id, "/stop"))
        follow(client, instance_id, reply["generation"], view_path=instance_path(instance_id, "/deployment"))


@click.command("url")
@click.argument("instance_id")
@reports_errors
def url(instance_id: str) -> None:
    """Print the URL where the gateway serves INSTANCE_ID's page (open it with your API token)."""
    with closing(default_client()) as client:
        view: dict[str, Any] = client.get(instance_path(instance_id, "/deployment"))
    if not view.get("page_url"):
        raise CanopyError(f"app instance {instance_id}'s app has no page")
    if view["status"] != "ready":
        click.echo(f"(not running: {view['status']}: {view['message']})", err=True)
    click.echo(view["page_url"])


RUN_COMMANDS = (run, stop, url)
