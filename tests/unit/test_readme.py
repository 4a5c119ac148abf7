"""The README documents every setting and every top-level CLI command."""

from __future__ import annotations

from pathlib import Path

import click

from bootstrap.cli import COMMANDS, cli
from canopy.config import SETTINGS

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_readme() -> None:
    missing = [s.key for s in SETTINGS if f"`{s.key}`" not in README]
    assert missing == []


def test_every_command_is_in_the_readme() -> None:
    missing = [name for name in COMMANDS if f"`canopy {name}" not in README]
    assert missing == []


def test_every_lazy_command_resolves_to_a_command_of_that_name() -> None:
    context = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(context, name)
        assert isinstance(command, click.Command) and command.name == name, name
    assert cli.get_command(context, "no-such-command") is None
