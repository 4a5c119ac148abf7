"""The `canopy infra` command group: up, down and status of the local infrastructure."""

from __future__ import annotations

import shlex

import click

from bootstrap.infra.azurite import CONNECTION_STRING as AZURITE_CONNECTION_STRING
from bootstrap.infra.base import InfraError, InfraPaths
from bootstrap.infra.kafka import Kafka
from bootstrap.infra.mailpit import SMTP_URL, Mailpit
from bootstrap.infra.manager import NAMES, down, format_status, status, up
from bootstrap.infra.mosquitto import Mosquitto
from bootstrap.infra.mosquitto_auth import read_env_file
from bootstrap.infra.postgres import saved_database_url

_COMPONENTS = click.Choice(NAMES, case_sensitive=False)


@click.group()
def infra() -> None:
    """Run the platform's infrastructure on this machine, all on 127.0.0.1.

    \b
    kafka      Apache Kafka (KRaft, single node)   127.0.0.1:9092  SASL/SCRAM + ACLs
    postgres   PostgreSQL (Debian cluster)         127.0.0.1:5432  role and db canopy, password
                                                   generated per install (`status --show-secrets`)
    azurite    Azure Blob emulator                 127.0.0.1:10000
    mosquitto  MQTT broker                         127.0.0.1:1883
    docker     Docker Engine                       unix:///var/run/docker.sock
    ferretdb   FerretDB v1.24.2 binary, built with Go; the node agents run one per app
               instance that asks for a database (no port: a unix socket per instance)
    mailpit    Mailpit v1.33.1, built with Go      127.0.0.1:1025  SMTP (any login accepted)
                                                   127.0.0.1:8025  web API (/api/v1/messages)

    Caches, data, logs, ownership records and the PostgreSQL password (mode 0600)
    live in $CANOPY_HOME/infra; CANOPY_POSTGRES_PORT moves PostgreSQL to another port.
    """


@infra.command("up")
@click.argument("names", nargs=-1, type=_COMPONENTS, metavar="[NAMES]...")
def up_command(names: tuple[str, ...]) -> None:
    """Install what is missing and start components (default: all).

    Missing system packages are installed with apt-get, the Kafka jars are fetched
    with Maven, Azurite with npm, FerretDB and Mailpit built with Go, on the first run only.
    A component that already answers is left alone (and not claimed). Returns once every component really
    accepts requests; a second run on a warm machine takes seconds.
    """
    try:
        up(list(names))
    except InfraError as exc:
        raise click.ClickException(exc.message) from exc


@infra.command("down")
@click.argument("names", nargs=-1, type=_COMPONENTS, metavar="[NAMES]...")
def down_command(names: tuple[str, ...]) -> None:
    """Stop components that canopy started (default: all).

    Anything canopy did not start is left running. Data and caches are kept, so the
    next `canopy infra up` is fast and topics, tables and blobs survive.
    """
    try:
        down(list(names))
    except InfraError as exc:
        raise click.ClickException(exc.message) from exc


@infra.command("status")
@click.option("--show-secrets", is_flag=True, help="Show the PostgreSQL password in CANOPY_DB_URL.")
def status_command(show_secrets: bool) -> None:
    """Show whether each component is up, its address, the CANOPY_DB_URL and how to log in to Kafka."""
    click.echo(format_status(status()))
    url = saved_database_url(reveal=show_secrets)
    if url is not None:
        hint = "" if show_secrets else "  (--show-secrets shows the password)"
        click.echo(f"\nCANOPY_DB_URL={url}{hint}")
    paths = InfraPaths.default()
    click.echo(Kafka(paths).usage())
    click.echo(Mailpit(paths).usage())


@infra.command("env")
def env_command() -> None:
    """Print `export` lines pointing the platform at the real engines, with its logins (keep it private).

    Use as: eval "$(canopy infra env)" then `canopy up`.
    """
    paths = InfraPaths.default()
    kafka = Kafka(paths)
    credentials = kafka.credentials()
    if credentials is None:
        raise click.ClickException(f"no Kafka logins in {kafka.credentials_file}; run `canopy infra up`")
    settings = {"CANOPY_BUS_URL": f"kafka://{kafka.address}", **credentials.environment()}
    database_url = saved_database_url(paths)
    if database_url is not None:
        settings["CANOPY_DB_URL"] = database_url
    settings.update(read_env_file(Mosquitto(paths).platform_env))
    settings["CANOPY_BLOB_URL"] = "azure://canopy"
    settings["CANOPY_AZURE_CONNECTION_STRING"] = AZURITE_CONNECTION_STRING
    settings["CANOPY_MAIL_URL"] = SMTP_URL
    for key, value in settings.items():
        click.echo(f"export {key}={shlex.quote(value)}")
