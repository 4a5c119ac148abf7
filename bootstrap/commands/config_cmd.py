"""`canopy config`: every setting, its current value and what it accepts."""

from __future__ import annotations

import click

from bootstrap.commands.output import print_table, reports_errors
from canopy.config import SETTINGS, load_config


@click.command("config")
@reports_errors
def config_command() -> None:
    """List every CANOPY_* setting with its current value (secrets hidden) and its meaning."""
    config = load_config()
    rows = []
    for setting in SETTINGS:
        value = config.values[setting.key]
        shown = "***" if setting.secret and value else value
        rows.append({"key": setting.key, "value": shown, "doc": setting.doc})
    print_table(rows, ["key", "value", "doc"])
