"""`canopy device watch ID` and `canopy device send ID --param k=v`: live readings and commands."""

from __future__ import annotations

import json
from typing import Any

import click
from platform_sdk._client import default_client
from platform_sdk.devices import stream_readings

from bootstrap.commands.output import parse_key_values, reports_errors


def reading_line(record: dict[str, Any]) -> str:
    """One reading as a line: time, sequence number and the values (long text such as images elided)."""
    values = {
        key: (f"<{len(value)} chars>" if isinstance(value, str) and len(value) > 80 else value)
        for key, value in record.get("reading", {}).items()
    }
    values = {
        k: (f"<{len(v)} items>" if isinstance(v, list) and len(v) > 8 else v) for k, v in values.items()
    }
    seq = record.get("seq")
    return f"{record.get('at', '')}  #{seq if seq is not None else '-'}  {json.dumps(values)}"


@click.command("watch")
@click.argument("device_id", metavar="ID")
@click.option("--count", type=int, default=0, help="Stop after this many readings (default: until Ctrl-C).")
@click.option("--json", "as_json", is_flag=True, help="Print each reading record as JSON.")
@reports_errors
def watch(device_id: str, count: int, as_json: bool) -> None:
    """Stream the live readings of device ID until Ctrl-C."""
    client = default_client()
    latest = client.get(f"/api/v1/devices/{device_id}/latest")
    click.echo(f"Watching {device_id} ({latest['device_type']}, {latest['status']}); Ctrl-C stops.", err=True)
    try:
        for record in stream_readings(device_id, client, limit=count):
            click.echo(json.dumps(record) if as_json else reading_line(record))
    except KeyboardInterrupt:
        pass


@click.command("send")
@click.argument("device_id", metavar="ID")
@click.option("--command", "command", help="The command (default: the type's default command).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="A parameter (repeatable).")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds to wait for the ack.")
@reports_errors
def send(device_id: str, command: str | None, params: tuple[str, ...], timeout: float) -> None:
    """Send a command to controller ID and print the state it acknowledges."""
    body = {"command": command, "params": parse_key_values(params, "--param"), "timeout": timeout}
    ack = default_client().post(f"/api/v1/devices/{device_id}/commands", json=body)
    click.echo(f"{device_id} acknowledged {ack['command']} ({ack['command_id']}): {json.dumps(ack['state'])}")
