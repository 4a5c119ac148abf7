"""`canopy agent`: run one node agent in this process (several on one machine act as several nodes)."""

from __future__ import annotations

import json

import click
from platform_sdk._client import ApiClient

from bootstrap.commands.output import parse_labels, reports_errors
from bootstrap.infra.base import InfraPaths
from bootstrap.infra.packages import ensure_sandbox_tools
from bootstrap.launch import ops_server, serve
from canopy.config import Config, load_config
from canopy.ed25519 import Ed25519PrivateKey
from canopy.errors import ConfigError
from canopy.nodes.enrolment import identity_dir, node_key
from canopy.private import write_private_file
from canopy.runtime import Service
from canopy.runtime.backends import Backends
from canopy.runtime.health import component_checks
from canopy.runtime.heartbeat import HeartbeatSender
from canopy.workloads.commands import key_paths, public_pem

KAFKA_LOGIN = "kafka.json"


def parse_load(text: str) -> tuple[float, float] | None:
    """Parse 'CPU[,MEMORY]' percentages for --simulated-load."""
    if not text:
        return None
    parts = [float(part) for part in text.split(",")]
    if not 1 <= len(parts) <= 2 or not all(0 <= part <= 100 for part in parts):
        raise click.BadParameter("give CPU[,MEMORY] percentages from 0 to 100", param_hint="--simulated-load")
    return parts[0], parts[-1]


def join(config: Config, node_id: str, token: str) -> None:
    """Join: send this node's public key with the token; keep the command key and Kafka login answered."""
    key = node_key(config.home, node_id)
    answer = ApiClient(config.api_url).post(
        f"/api/v1/nodes/{node_id}/join", json={"token": token, "public_key": public_pem(key)}
    )
    _, commands_key = key_paths(config.home)
    write_private_file(commands_key, str(answer["commands_public_key"]).encode())
    login = identity_dir(config.home, node_id) / KAFKA_LOGIN
    login.unlink(missing_ok=True)
    if answer.get("kafka"):
        write_private_file(login, json.dumps(answer["kafka"]).encode())


def platform_prefix(config: Config, joined: str) -> str:
    """The topic prefix of the platform this node joined; a different CANOPY_TOPIC_PREFIX is a mistake."""
    if config.topic_prefix and config.topic_prefix != joined:
        raise ConfigError(
            f"CANOPY_TOPIC_PREFIX={config.topic_prefix!r} but this node joined a platform whose topic "
            f"prefix is {joined!r}; unset CANOPY_TOPIC_PREFIX (the agent takes the platform's)"
        )
    return joined


def node_config(config: Config, node_id: str) -> tuple[Config, Ed25519PrivateKey]:
    """The configuration with this node's own Kafka login and topic prefix, and its key.

    Refuses a node that never joined.
    """
    directory = identity_dir(config.home, node_id)
    if not (directory / "node.key").exists():
        raise ConfigError(
            f"node {node_id} has not joined: ask a platform_admin to run `canopy node add {node_id}`, "
            f"then start the agent once with --join-token"
        )
    values = dict(config.values)
    if (directory / KAFKA_LOGIN).exists():
        login = json.loads((directory / KAFKA_LOGIN).read_text())
        values["CANOPY_KAFKA_USERNAME"], values["CANOPY_KAFKA_PASSWORD"] = (
            login["username"],
            login["password"],
        )
        values["CANOPY_TOPIC_PREFIX"] = platform_prefix(config, login.get("topic_prefix", ""))
    return Config(values), node_key(config.home, node_id)


@click.command()
@click.option("--node-id", required=True, help="This node's name, as `canopy node add` gave it.")
@click.option(
    "--join-token", default="", help="The one-time token from `canopy node add` (first start only)."
)
@click.option("--labels", default="", help="Labels placement can require, as k=v,k2=v2.")
@click.option("--runtime", type=click.Choice(["process", "docker"]), default="process", show_default=True)
@click.option("--max-workloads", type=click.IntRange(0, 256), default=8, show_default=True)
@click.option(
    "--simulated-load", default="", hidden=True, help="Report CPU[,MEMORY] percent instead of psutil's."
)
@reports_errors
def agent(
    node_id: str, join_token: str, labels: str, runtime: str, max_workloads: int, simulated_load: str
) -> None:
    """Run a node agent: execute signed start/stop commands for NODE_ID and report load every 2 s.

    The first start joins the platform with --join-token: the agent makes its Ed25519 key under
    CANOPY_HOME/agents/NODE_ID/identity (0600) and receives its own Kafka login there.
    """
    from services.node_agent.service import agent_components

    parsed_labels, parsed_load = (
        parse_labels(filter(None, (part.strip() for part in labels.split(","))), "--labels"),
        parse_load(simulated_load),
    )

    config = load_config()
    if join_token:
        join(config, node_id, join_token)
    config, key = node_config(config, node_id)

    def make_service(backends: Backends) -> Service:
        components = agent_components(
            backends,
            node_id,
            key,
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
    serve(config, make_service)
