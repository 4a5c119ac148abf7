"""`canopy agent`: run one node agent in this process (several on one machine act as several nodes)."""

from __future__ import annotations

import click

from bootstrap.commands.output import parse_labels, reports_errors
from bootstrap.infra.base import InfraPaths
from bootstrap.infra.packages import ensure_sandbox_tools
from bootstrap.launch import ops_server, serve
from canopy.config import load_config
from canopy.runtime import Service
from canopy.runtime.backends import Backends
from canopy.runtime.health import component_checks
from canopy.runtime.heartbeat import HeartbeatSender


def parse_load(text: str) -> tuple[float, float] | None:
    """Parse 'CPU[,MEMORY]' percentages for --simulated-load."""
    if not text:
        return None
    parts = [float(part) for part in text.split(",")]
    if not 1 <= len(parts) <= 2 or not all(0 <= part <= 100 for part in parts):
        raise click.BadParameter("give CPU[,MEMORY] percentages from 0 to 100", param_hint="--simulated-load")
    return parts[0], parts[-1]


@click.command()
@click.option("--node-id", required=True, help="This node's name, unique in the platform.")
@click.option("--labels", default="", help="Labels placement can require, as k=v,k2=v2.")
@click.option("--runtime", type=click.Choice(["process", "docker"]), default="process", show_default=True)
@click.option("--max-workloads", type=click.IntRange(0, 256), default=8, show_default=True)
@click.option(
    "--simulated-load", default="", hidden=True, help="Report CPU[,MEMORY] percent instead of psutil's."
)
@reports_errors
def agent(node_id: str, labels: str, runtime: str, max_workloads: int, simulated_load: str) -> None:
    """Run a node agent: execute signed start/stop commands for NODE_ID and report load every 2 s."""
    from services.node_agent.service import agent_components

    parsed_labels, parsed_load = (
        parse_labels(filter(None, (part.strip() for part in labels.split(","))), "--labels"),
        parse_load(simulated_load),
    )

    def make_service(backends: Backends) -> Service:
        components = agent_components(
            backends,
            node_id,
            runtime=runtime,
            labels=parsed_labels,
            simulated_load=parsed_load,
            max_workloads=max_workloads,
        )
        components.append(HeartbeatSender(backends.bus, "node_agent", backends.config.heartbeat_interval))
        components.append(ops_server(backends, f"node_agent:{node_id}"))
        backends.checks.update(component_checks(components))
        return Service(f"node_agent:{node_id}", components)

    if runtime == "process":
        ensure_sandbox_tools(InfraPaths.default().log("system"))
    click.echo(f"Node agent {node_id} ({runtime}) running; Ctrl-C stops.")
    serve(load_config(), make_service)
