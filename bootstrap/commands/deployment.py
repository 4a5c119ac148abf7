"""`canopy model deploy|undeploy|scale|predict`: run models and call them from the command line."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

import click
from platform_sdk._client import ApiClient, default_client

from bootstrap.commands.output import parse_labels, reports_errors
from canopy.errors import CanopyError

POLL_SECONDS = 0.5
WAIT_TIMEOUT_SECONDS = 600.0
FINAL = {"ready", "failed", "stopped"}


def model_path(model: str, suffix: str = "") -> str:
    """The API path of a model reference (an id, a name of your own, or owner/name)."""
    return f"/api/v1/models/{quote(model, safe='/')}{suffix}"


def follow(
    client: ApiClient,
    model_id: str,
    generation: int,
    timeout: float = WAIT_TIMEOUT_SECONDS,
    view_path: str = "",
) -> dict[str, Any]:
    """Print the deployment's progress events of `generation` until it is ready, failed or stopped.

    `view_path` is the deployment view's API path when it is not a model's (an app instance's).
    """
    since, deadline = 0, time.monotonic() + timeout
    while time.monotonic() < deadline:
        path = view_path or model_path(model_id, "/deployment")
        view: dict[str, Any] = client.get(path, params={"since": since})
        for event in view["events"]:
            since = event["id"]
            if event["generation"] != generation:
                continue
            click.echo(f"{event['stage']:>9}  {event['message']}")
            for line in event["logs"]:
                click.echo(f"           | {line}")
        if view["generation"] > generation:
            raise CanopyError(f"superseded by a newer request (generation {view['generation']})")
        if view["generation"] == generation and view["status"] in FINAL:
            return view
        time.sleep(POLL_SECONDS)
    raise CanopyError(f"the deployment of {model_id} did not finish within {timeout:.0f} s; look again later")


def _finish(client: ApiClient, reply: dict[str, Any], wait: bool) -> None:
    """Follow the request when asked to, and fail the command when the deployment failed."""
    model_id, generation = reply["model_id"], reply["generation"]
    if not wait:
        click.echo(
            f"Requested generation {generation} of {model_id}; follow with `canopy model status {model_id}`."
        )
        return
    view = follow(client, model_id, generation)
    if view["status"] == "failed":
        raise CanopyError(f"deployment failed: {view['message']}")
    for endpoint in view["endpoints"]:
        click.echo(endpoint)


@click.command("deploy")
@click.argument("model_id")
@click.option(
    "--replicas", type=click.IntRange(1, 32), default=None, help="Replicas (default: the manifest's)."
)
@click.option("--node-label", "node_labels", multiple=True, help="Only nodes with this label, key=value.")
@click.option(
    "--wait/--no-wait", default=True, show_default=True, help="Stream progress until ready or failed."
)
@reports_errors
def deploy(model_id: str, replicas: int | None, node_labels: tuple[str, ...], wait: bool) -> None:
    """Deploy model MODEL_ID and stream building, placing, starting, ready (or failed, with logs).

    MODEL_ID is an id, the name of one of your models, or owner/name; only a model's owner or a
    platform_admin may deploy, scale or undeploy it.
    """
    client = default_client()
    body: dict[str, Any] = {"node_labels": parse_labels(node_labels, "--node-label")}
    if replicas is not None:
        body["replicas"] = replicas
    _finish(client, client.post(model_path(model_id, "/deploy"), json=body), wait)


@click.command("undeploy")
@click.argument("model_id")
@click.option("--wait/--no-wait", default=True, show_default=True)
@reports_errors
def undeploy(model_id: str, wait: bool) -> None:
    """Stop and remove every replica of model MODEL_ID."""
    client = default_client()
    _finish(client, client.post(model_path(model_id, "/undeploy")), wait)


@click.command("scale")
@click.argument("model_id")
@click.argument("replicas", type=click.IntRange(0, 32))
@click.option("--wait/--no-wait", default=True, show_default=True)
@reports_errors
def scale(model_id: str, replicas: int, wait: bool) -> None:
    """Change the number of replicas of deployed model MODEL_ID."""
    client = default_client()
    _finish(client, client.post(model_path(model_id, "/scale"), json={"replicas": replicas}), wait)


@click.command("status")
@click.argument("model_id")
@reports_errors
def status(model_id: str) -> None:
    """Show the deployment of MODEL_ID: status, replicas, nodes and endpoints."""
    view = default_client().get(model_path(model_id, "/deployment"))
    click.echo(f"status: {view['status']} (generation {view['generation']}): {view['message']}")
    for replica in view["replicas"]:
        where = f"node={replica['node_id']}  {replica['state']}  {replica['endpoint']}"
        click.echo(f"  {replica['workload_id']}  {where}")
    for line in view["logs"]:
        click.echo(f"  | {line}")


@click.command("predict")
@click.argument("model_id")
@click.option("--json", "payload", required=True, help="The input, a JSON object.")
@click.option("--timeout", type=float, default=30.0, show_default=True)
@reports_errors
def predict(model_id: str, payload: str, timeout: float) -> None:
    """Call deployed model MODEL_ID (an id, your model's name, or owner/name) and print its output."""
    from platform_sdk.models import ModelClient

    try:
        data = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--json") from exc
    answer = ModelClient(default_client()).call(model_id, data, timeout=timeout)
    click.echo(json.dumps(answer, indent=2))


DEPLOYMENT_COMMANDS = (deploy, undeploy, scale, status, predict)
