"""Device types, devices and locations: `canopy device type ...`, `canopy device ...`, `canopy location`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from platform_sdk._client import default_client

from bootstrap.commands.device_live import send, watch
from bootstrap.commands.output import parse_key_values, print_table, reports_errors
from canopy.errors import BadRequest

TYPE_COLUMNS = ["name", "kind", "revision", "devices", "company", "model"]
DEVICE_COLUMNS = ["id", "type", "location", "transport", "status", "last_seen_at"]
NEW_DEVICE_COLUMNS = ["id", "type", "location", "transport", "credential"]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"cannot read {path} as JSON: {exc}") from exc


def _upload(path: str, zip_path: Path) -> Any:
    return default_client().post(
        path, data=zip_path.read_bytes(), headers={"Content-Type": "application/zip"}
    )


def _echo_credentials(devices: list[dict[str, Any]]) -> None:
    print_table(devices, NEW_DEVICE_COLUMNS)
    click.echo("Keep each credential now: it is shown only once (rotate with `canopy device credential ID`).")


@click.group()
def device() -> None:
    """Register and inspect devices and device types (changes need platform_admin)."""


device.add_command(watch)
device.add_command(send)


@device.group("type")
def device_type() -> None:
    """Device types (profiles): sensor fields, controller commands and state."""


@device_type.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@reports_errors
def type_add(file: Path) -> None:
    """Register the type defined in FILE (JSON: name, kind, fields or state and commands)."""
    reply = default_client().post("/api/v1/device-types", json=_read_json(file))
    click.echo(f"Registered {reply['kind']} type {reply['name']} (revision {reply['revision']}).")


@device_type.command("update")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Apply even if some devices no longer fit the type.")
@reports_errors
def type_update(file: Path, force: bool) -> None:
    """Change a type to the definition in FILE; its devices are re-validated and see it at once."""
    definition = _read_json(file)
    name = definition.get("name") if isinstance(definition, dict) else None
    if not isinstance(name, str) or not name:
        raise BadRequest(f"{file} must be a JSON object with the type's 'name'")
    suffix = "?force=true" if force else ""
    reply = default_client().request("PUT", f"/api/v1/device-types/{name}{suffix}", json=definition)
    click.echo(f"Type {name} is {reply['status']}; revision {reply['revision']}.")
    for device_id, problems in reply["invalid_devices"].items():
        click.echo(f"  {device_id} no longer fits: {json.dumps(problems)}")


@device_type.command("list")
@click.option("--kind", type=click.Choice(["sensor", "controller"]), help="Only this kind.")
@reports_errors
def type_list(kind: str | None) -> None:
    """List device types."""
    reply = default_client().get("/api/v1/device-types", params={"kind": kind} if kind else None)
    print_table(reply["device_types"], TYPE_COLUMNS)


@device_type.command("show")
@click.argument("name")
@reports_errors
def type_show(name: str) -> None:
    """Show type NAME: its revision, device count and full definition."""
    reply = default_client().get(f"/api/v1/device-types/{name}")
    click.echo(f"{reply['name']} ({reply['kind']}), revision {reply['revision']}, {reply['devices']} devices")
    click.echo(json.dumps(reply["definition"], indent=2))


@device_type.command("upload")
@click.argument("zip_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@reports_errors
def type_upload(zip_file: Path) -> None:
    """Register every type in ZIP_FILE (sensor/<TYPE>.json, controller/<TYPE>.json, types/*.json)."""
    reply = _upload("/api/v1/device-types/upload", zip_file)
    print_table(reply["device_types"], ["file", "name", "kind", "status"])


@device_type.command("remove")
@click.argument("name")
@reports_errors
def type_remove(name: str) -> None:
    """Remove type NAME (refused while devices use it)."""
    default_client().delete(f"/api/v1/device-types/{name}")
    click.echo(f"Removed type {name}.")


@device.command("add")
@click.argument("type_name", metavar="TYPE")
@click.argument("location")
@click.option("--id", "device_id", help="The device id (lower-case slug); generated when omitted.")
@click.option("--transport", type=click.Choice(["kafka", "mqtt", "http"]), default="kafka", show_default=True)
@click.option("--lat", type=float, help="Latitude of the location.")
@click.option("--lon", type=float, help="Longitude of the location.")
@click.option("--config", "config", multiple=True, metavar="KEY=VALUE", help="A config value (repeatable).")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="A free-form label (repeatable).")
@reports_errors
def device_add(
    type_name: str,
    location: str,
    device_id: str | None,
    transport: str,
    lat: float | None,
    lon: float | None,
    config: tuple[str, ...],
    labels: tuple[str, ...],
) -> None:
    """Register a device of TYPE at LOCATION (a path such as hyd/main-street/lab-1)."""
    body: dict[str, Any] = {
        "type": type_name,
        "location": {"path": location, "latitude": lat, "longitude": lon},
        "transport": transport,
        "config": parse_key_values(config, "--config"),
        "labels": {k: str(v) for k, v in parse_key_values(labels, "--label").items()},
    }
    if device_id:
        body["id"] = device_id
    _echo_credentials([default_client().post("/api/v1/devices", json=body)])


@device.command("list")
@click.option("--location", help="Only devices at or under this location path.")
@click.option("--type", "type_name", help="Only devices of this type.")
@reports_errors
def device_list(location: str | None, type_name: str | None) -> None:
    """List devices with their status."""
    params = {key: value for key, value in (("location", location), ("type", type_name)) if value}
    print_table(default_client().get("/api/v1/devices", params=params)["devices"], DEVICE_COLUMNS)


@device.command("show")
@click.argument("device_id", metavar="ID")
@reports_errors
def device_show(device_id: str) -> None:
    """Show device ID: type, location, status, config, labels and latest reading."""
    click.echo(json.dumps(default_client().get(f"/api/v1/devices/{device_id}"), indent=2))


@device.command("upload")
@click.argument("zip_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@reports_errors
def device_upload(zip_file: Path) -> None:
    """Register every device in ZIP_FILE (sensors/*.json, controllers/*.json, devices/*.json), or none."""
    _echo_credentials(_upload("/api/v1/devices/upload", zip_file)["devices"])


@device.command("remove")
@click.argument("device_id", metavar="ID")
@reports_errors
def device_remove(device_id: str) -> None:
    """Remove device ID; its credential stops working."""
    default_client().delete(f"/api/v1/devices/{device_id}")
    click.echo(f"Removed device {device_id}.")


@device.command("credential")
@click.argument("device_id", metavar="ID")
@reports_errors
def device_credential(device_id: str) -> None:
    """Give device ID a new credential; the old one stops working at once."""
    reply = default_client().post(f"/api/v1/devices/{device_id}/credential")
    click.echo(f"New credential for {device_id} (shown only once): {reply['credential']}")


@click.group()
def location() -> None:
    """Locations: paths such as city/street/building/room."""


@location.command("list")
@reports_errors
def location_list() -> None:
    """List locations with their coordinates and device counts (at it, and at or under it)."""
    print_table(
        default_client().get("/api/v1/locations")["locations"],
        ["path", "latitude", "longitude", "devices", "devices_within"],
    )
