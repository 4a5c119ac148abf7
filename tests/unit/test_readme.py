"""The README documents every setting and every top-level CLI command."""

from __future__ import annotations

from pathlib import Path

from bootstrap.cli import cli
from canopy.config import SETTINGS

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_readme() -> None:
    missing = [s.key for s in SETTINGS if f"`{s.key}`" not in README]
    assert missing == []


def test_every_command_is_in_the_readme() -> None:
    missing = [name for name in cli.commands if f"`canopy {name}" not in README]
    assert missing == []
