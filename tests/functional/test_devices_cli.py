"""`canopy device ...` and `canopy location list` against the gateway app (through its test client)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from platform_sdk._client import ApiClient

from bootstrap.cli import cli
from canopy.roles import Role
from canopy.runtime.backends import Backends
from services.gateway.app import create_app
from services.gateway.server import HttpServer
from tests.fixtures.device_packages.corpus import HERE, LEGACY_INSTANCES, LEGACY_TYPES, zip_bytes


@pytest.fixture()
def canopy(
    backends: Backends, issue_token: Callable[[Role], str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Result]]:
    server = HttpServer(create_app(backends), "127.0.0.1", 0)
    server.start()
    api = ApiClient(server.url, issue_token(Role.PLATFORM_ADMIN))
    monkeypatch.setattr("bootstrap.commands.device.default_client", lambda: api)
    runner = CliRunner()

    def run(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(cli, list(args))
        assert (result.exit_code == 0) == ok, result.output
        return result

    yield run
    api.close()
    server.stop()


def test_the_device_commands_end_to_end(canopy: Callable[..., Result], tmp_path: Path) -> None:
    types_zip, devices_zip = tmp_path / "types.zip", tmp_path / "devices.zip"
    types_zip.write_bytes(zip_bytes(LEGACY_TYPES))
    devices_zip.write_bytes(zip_bytes(LEGACY_INSTANCES))

    assert "TEMP" in canopy("device", "type", "upload", str(types_zip)).output
    assert (
        "Registered sensor type THERMOMETER"
        in canopy("device", "type", "add", str(HERE / "types/thermometer.json")).output
    )
    listed = canopy("device", "type", "list", "--kind", "sensor").output
    assert "THERMOMETER" in listed and "FAN" not in listed
    shown = canopy("device", "type", "show", "THERMOMETER").output
    assert "revision 1, 0 devices" in shown and '"temperature"' in shown

    uploaded = canopy("device", "upload", str(devices_zip)).output
    assert "temp-127-0-0-1-7001" in uploaded and "cnd_" in uploaded and "shown only once" in uploaded
    added = canopy(
        "device",
        "add",
        "THERMOMETER",
        "BLR/Lab 2",
        "--id",
        "therm-1",
        "--transport",
        "mqtt",
        "--lat",
        "12.9",
        "--lon",
        "77.6",
        "--config",
        "interval_s=30",
        "--label",
        "floor=2",
    ).output
    assert "therm-1" in added and "blr/lab-2" in added
    assert "therm-1" not in canopy("device", "list", "--location", "hyd").output
    assert "therm-1" in canopy("device", "list", "--type", "THERMOMETER").output
    device = json.loads(canopy("device", "show", "therm-1").output)
    assert device["config"] == {"interval_s": 30} and device["labels"] == {"floor": "2"}
    locations = canopy("location", "list").output
    assert "blr/lab-2" in locations and "12.9" in locations and "hyd/random" in locations
    assert "cnd_" in canopy("device", "credential", "therm-1").output

    hotter = json.loads((HERE / "types/thermometer.json").read_text())
    hotter["fields"]["temperature"]["maximum"] = 100
    new_type = tmp_path / "hotter.json"
    new_type.write_text(json.dumps(hotter))
    assert "updated; revision 2" in canopy("device", "type", "update", str(new_type)).output

    assert "Removed device therm-1" in canopy("device", "remove", "therm-1").output
    assert "Removed type THERMOMETER" in canopy("device", "type", "remove", "THERMOMETER").output


def test_device_command_errors_are_clear(canopy: Callable[..., Result], tmp_path: Path) -> None:
    assert "no device 'nope'" in canopy("device", "show", "nope", ok=False).output
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert "cannot read" in canopy("device", "type", "add", str(bad), ok=False).output
    assert "KEY=VALUE" in canopy("device", "add", "X", "hyd", "--config", "oops", ok=False).output
    refused = canopy("device", "add", "NOPE", "hyd", ok=False).output
    assert refused.startswith("Error:") and "no device type 'NOPE'" in refused
    archive = tmp_path / "bad.zip"
    archive.write_bytes(zip_bytes({"sensors/1.json": "{"}))
    assert "sensors/1.json" in canopy("device", "upload", str(archive), ok=False).output
