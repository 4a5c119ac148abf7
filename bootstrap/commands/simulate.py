"""`canopy simulate CONFIG`: run simulated sensors and controllers against the platform."""

from __future__ import annotations

import threading
from pathlib import Path

import click

from bootstrap.commands.output import reports_errors
from canopy.errors import BadRequest


@click.command()
@click.argument("config_file", metavar="CONFIG", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--duration", type=float, help="Stop after this many seconds (default: until Ctrl-C).")
@reports_errors
def simulate(config_file: Path, duration: float | None) -> None:
    """Run the devices a JSON CONFIG lists, each at its rate, over kafka, mqtt or http.

    CONFIG holds {"devices": [{"id", "type", "token", "transport", "rate", "options"}], "mqtt_url",
    "bus_url", "api_url"}; see simulators/README.md. The devices must be registered, with their
    credentials as "token".
    """
    from simulators.config import load_config_file
    from simulators.runner import Fleet

    try:
        config = load_config_file(config_file)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    fleet = Fleet(config)
    fleet.connect()
    click.echo(f"Simulating {len(fleet.devices)} devices; Ctrl-C stops.")
    try:
        fleet.run(threading.Event(), duration)
    except KeyboardInterrupt:
        pass
    finally:
        fleet.close()
    click.echo(f"Sent {fleet.sent} readings.")
