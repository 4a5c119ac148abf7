"""The `canopy` command line."""

from __future__ import annotations

import click

from bootstrap.commands.account import login, logout, token, user, whoami
from bootstrap.commands.agent import agent
from bootstrap.commands.app import app
from bootstrap.commands.booking import booking
from bootstrap.commands.config_cmd import config_command
from bootstrap.commands.device import device, location
from bootstrap.commands.logs import deadletter, logs
from bootstrap.commands.model import model
from bootstrap.commands.node import node
from bootstrap.commands.simulate import simulate
from bootstrap.commands.up import up
from bootstrap.infra.cli import infra


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="canopy-edge")
def cli() -> None:
    """Canopy: deploy AI models and IoT apps to edge nodes over Kafka.

    Start with `canopy up` (or `make run`), then `canopy login --user admin`. Every command reads
    CANOPY_* settings from the environment; `canopy config` lists them.
    """


for command in (
    up,
    infra,
    login,
    logout,
    whoami,
    user,
    token,
    config_command,
    model,
    app,
    booking,
    agent,
    node,
    simulate,
    device,
    location,
    logs,
    deadletter,
):
    cli.add_command(command)


def main() -> None:
    """Entry point of the canopy console script."""
    cli()
