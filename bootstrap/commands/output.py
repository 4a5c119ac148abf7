"""How CLI commands print results and turn platform errors into clean exits."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ParamSpec, TypeVar

import click

from canopy.errors import BadRequest, CanopyError

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Print a CanopyError as 'Error: ...' and exit 1 instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except CanopyError as exc:
            details = f"\n{json.dumps(exc.details, indent=2)}" if exc.details else ""
            raise click.ClickException(f"{exc.message}{details}") from exc

    return wrapper


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Print rows as aligned columns with a header."""
    cells = [{c: _cell(row.get(c, "")) for c in columns} for row in rows]
    widths = {c: max([len(c), *(len(cell[c]) for cell in cells)]) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for cell in cells:
        click.echo("  ".join(cell[c].ljust(widths[c]) for c in columns).rstrip())


def _cell(value: Any) -> str:
    """A table cell: lists joined with commas, everything else as text."""
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def parse_key_values(pairs: tuple[str, ...], option: str) -> dict[str, Any]:
    """k=v pairs; each value is read as JSON when it parses (so 5, true, [1,2] keep their types)."""
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadRequest(f"{option} takes KEY=VALUE, got {pair!r}")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


def parse_labels(pairs: Iterable[str], option: str) -> dict[str, str]:
    """key=value labels as text; a malformed pair is a usage error naming `option`."""
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not key or not sep:
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint=option)
        labels[key] = value
    return labels
