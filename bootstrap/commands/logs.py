"""`canopy logs` (read and follow central logs) and `canopy deadletter list`."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import click
from platform_sdk._client import default_client

from bootstrap.commands.output import print_table, reports_errors

FOLLOW_POLL_SECONDS = 0.2
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def origin(record: dict[str, Any]) -> str:
    """Where a line came from: model m1, app instance i1, service gateway or node n1 (and its node)."""
    if record["model_id"]:
        where = f"model {record['model_id']}"
    elif record["instance_id"]:
        where = f"app {record['instance_id']}"
    elif record["source"] == "node":
        where = "node"
    else:
        where = f"service {record['service']}"
    return f"{where}@{record['node']}" if record["node"] else where


def line_text(record: dict[str, Any]) -> str:
    """One record as `canopy logs` prints it."""
    return f"{record['at']} {record['level']:<7} [{origin(record)}] {record['message']}"


def follow_logs(
    fetch: Callable[[dict[str, Any]], dict[str, Any]],
    params: dict[str, Any],
    echo: Callable[[str], None],
    follow: bool,
    poll: float = FOLLOW_POLL_SECONDS,
) -> None:
    """Print the matching lines; with `follow`, keep asking for lines after the last one every `poll` s."""
    answer = fetch(params)
    while True:
        for record in answer["records"]:
            echo(line_text(record))
        if not follow:
            return
        if not answer["records"]:
            time.sleep(poll)
        answer = fetch({**params, "after": answer["last_id"], "limit": 1000})


@click.command("logs")
@click.option("--model", help="Lines of one model (id or owner/name).")
@click.option("--app-instance", "app_instance", help="Lines of one app instance.")
@click.option("--service", help="Lines of one platform service (platform_admin).")
@click.option("--node", help="Lines of one node and the workloads on it (platform_admin).")
@click.option("--level", type=click.Choice(LEVELS, case_sensitive=False), help="Minimum level.")
@click.option("--since", help="Only lines since: 10m, 2h, 1d or an ISO time.")
@click.option("--grep", help="Only lines containing this text (case-insensitive).")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True, help="Lines shown.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@reports_errors
def logs(follow: bool, **filters: Any) -> None:
    """Read the platform's central logs: your models' and app instances' lines (admins: all lines)."""
    client = default_client()
    params = {name: value for name, value in filters.items() if value is not None}
    with contextlib.suppress(KeyboardInterrupt):
        follow_logs(lambda query: client.get("/api/v1/logs", params=query), params, click.echo, follow)


@click.group()
def deadletter() -> None:
    """Messages a consumer could not decode or handle, kept with their reason (platform_admin)."""


@deadletter.command("list")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@reports_errors
def list_dead_letters(limit: int) -> None:
    """The newest dead letters: time, source topic, group, reason and the start of the payload."""
    letters = default_client().get("/api/v1/deadletters", params={"limit": limit})["dead_letters"]
    rows = [{**letter, "payload": letter["payload_preview"][:60]} for letter in letters]
    print_table(rows, ["at", "source_topic", "group", "reason", "payload"])
