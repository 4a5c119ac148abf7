"""`canopy node add|remove|list`: enrol nodes; their agents join with the one-time token `add` prints."""

from __future__ import annotations

import click
from platform_sdk._client import default_client

from bootstrap.commands.output import print_table, reports_errors


@click.group()
def node() -> None:
    """Add and remove the nodes that may run workloads (platform_admin)."""


@node.command("add")
@click.argument("node_id")
@click.option(
    "--address",
    "addresses",
    multiple=True,
    help="An address the node's workloads listen on (repeatable); default 127.0.0.1.",
)
@reports_errors
def add(node_id: str, addresses: tuple[str, ...]) -> None:
    """Add NODE_ID (or re-key it) and print the one-time token its agent joins with."""
    body: dict[str, object] = {"node_id": node_id}
    if addresses:
        body["addresses"] = list(addresses)
    answer = default_client().post("/api/v1/nodes", json=body)
    hours = answer["expires_in_seconds"] // 3600
    click.echo(f"Node {node_id} added; its workloads may listen on {', '.join(answer['addresses'])}.")
    click.echo(f"On the node, within {hours} h, run once:")
    click.echo(f"  canopy agent --node-id {node_id} --join-token {answer['join_token']}")


@node.command("remove")
@click.argument("node_id")
@reports_errors
def remove(node_id: str) -> None:
    """Remove NODE_ID: its key and Kafka login stop working."""
    default_client().delete(f"/api/v1/nodes/{node_id}")
    click.echo(f"Node {node_id} removed.")


@node.command("list")
@reports_errors
def list_nodes() -> None:
    """The nodes as their agents last reported them."""
    print_table(default_client().get("/api/v1/nodes")["nodes"], ["node_id", "runtime", "labels", "last_seen"])
