"""The `canopy` command line."""

from __future__ import annotations

import click

from bootstrap.infra.cli import infra


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Canopy: deploy AI models and IoT apps to edge nodes over Kafka."""


cli.add_command(infra)


def main() -> None:
    """Entry point of the canopy console script."""
    cli()
