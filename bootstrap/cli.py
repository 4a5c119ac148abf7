"""The `canopy` command line; each command's module is imported only when that command runs."""

from __future__ import annotations

import importlib

import click

# command name -> "module:attribute"; `canopy up` then loads none of the client commands' code
COMMANDS = {
    "up": "bootstrap.commands.up:up",
    "infra": "bootstrap.infra.cli:infra",
    "login": "bootstrap.commands.account:login",
    "logout": "bootstrap.commands.account:logout",
    "whoami": "bootstrap.commands.account:whoami",
    "user": "bootstrap.commands.account:user",
    "token": "bootstrap.commands.account:token",
    "config": "bootstrap.commands.config_cmd:config_command",
    "model": "bootstrap.commands.model:model",
    "app": "bootstrap.commands.app:app",
    "booking": "bootstrap.commands.booking:booking",
    "agent": "bootstrap.commands.agent:agent",
    "node": "bootstrap.commands.node:node",
    "simulate": "bootstrap.commands.simulate:simulate",
    "device": "bootstrap.commands.device:device",
    "location": "bootstrap.commands.device:location",
    "logs": "bootstrap.commands.logs:logs",
    "deadletter": "bootstrap.commands.logs:deadletter",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, for help and completion."""
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import the command's module and return the command, or None for an unknown name."""
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="canopy-edge")
def cli() -> None:
    """Canopy: deploy AI models and IoT apps to edge nodes over Kafka.

    Start with `canopy up` (or `make run`), then `canopy login --user admin`. Every command reads
    CANOPY_* settings from the environment; `canopy config` lists them.
    """


def main() -> None:
    """Entry point of the canopy console script."""
    cli()
