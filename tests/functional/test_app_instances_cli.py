"""`canopy app instances` and the instance creation `canopy app run` uses, against a real gateway server."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import click
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from bootstrap.commands.app_instances import create_instance, instance_options, instances
from bootstrap.commands.output import reports_errors
from canopy.roles import Role
from canopy.runtime.backends import Backends
from services.gateway.app import create_app
from services.gateway.server import HttpServer
from tests.app_world import ROOM, add_app, manifest, seed_devices, upload_model


@click.command("run")
@click.argument("app_id")
@instance_options
@reports_errors
def run(app_id: str, location: str, binds: tuple[str, ...]) -> None:
    """What `canopy app run` does before deploying: create the instance, print its id last."""
    from platform_sdk._client import default_client

    click.echo(create_instance(default_client(), app_id, location, binds)["id"])


@pytest.fixture()
def api(
    client: FlaskClient,
    backends: Backends,
    issue_token: Callable[[Role], str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """A gateway server, the CLI pointed at it as an end user; yields the id of an app to run."""
    seed_devices(backends)
    model_id = upload_model(client, issue_token(Role.AI_DEVELOPER))
    app_id = add_app(backends, "user-app-developer", manifest(model_id))
    server = HttpServer(create_app(backends), "127.0.0.1", 0)
    server.start()
    monkeypatch.setenv("CANOPY_API_URL", server.url)
    monkeypatch.setenv("CANOPY_TOKEN", issue_token(Role.END_USER))
    yield app_id
    server.stop()


def test_create_and_list_instances(api: str) -> None:
    runner = CliRunner()
    made = runner.invoke(run, [api, "--location", ROOM, "--bind", "room_temp=t-deep"])
    assert made.exit_code == 0, made.output
    instance_id = made.output.strip().splitlines()[-1]
    assert "room_temp: t-deep (THERMOMETER sensor)" in made.output
    assert "fan: fan-1 (SMARTFAN controller) (held exclusively)" in made.output
    listed = runner.invoke(instances, [])
    assert listed.exit_code == 0, listed.output
    assert instance_id in listed.output and "fan=fan-1, room_temp=t-deep" in listed.output
    assert listed.output.splitlines()[0].split() == ["ID", "APP", "LOCATION", "STATUS", "OWNER", "DEVICES"]


def test_creation_errors_are_clear(api: str) -> None:
    runner = CliRunner()
    assert runner.invoke(run, [api, "--location", ROOM]).exit_code == 0
    taken = runner.invoke(run, [api, "--location", ROOM])
    assert taken.exit_code == 1 and "fan-1 is held exclusively by instance" in taken.output
    nowhere = runner.invoke(run, [api, "--location", "nowhere"])
    assert nowhere.exit_code == 1 and "no THERMOMETER at nowhere" in nowhere.output
    malformed = runner.invoke(run, [api, "--location", ROOM, "--bind", "room_temp"])
    assert malformed.exit_code == 2 and "'room_temp' is not key=value" in malformed.output
    assert runner.invoke(run, [api]).exit_code == 2
