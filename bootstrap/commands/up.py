"""`canopy up`: every service in one process."""

from __future__ import annotations

import click

from bootstrap.commands.output import reports_errors
from bootstrap.infra.base import InfraPaths
from bootstrap.infra.packages import ensure_sandbox_tools
from bootstrap.launch import SERVICES, run_services
from canopy.config import load_config


@click.command()
@click.option(
    "--demo",
    is_flag=True,
    help="Also run a simulated fleet, the fan-anomaly model and the fan-monitor app at the plant.",
)
@reports_errors
def up(demo: bool) -> None:
    """Run every service in this process until Ctrl-C or SIGTERM.

    The backends come from CANOPY_BUS_URL, CANOPY_DB_URL and CANOPY_BLOB_URL: by default the
    embedded SQLite bus and store and local files under CANOPY_HOME; set them to kafka://,
    postgresql:// and azure:// URLs to use real engines. With --demo, simulated sensors and
    controllers at two locations start sending (see simulators/), the fan-anomaly model is deployed
    and the fan-monitor app runs at the plant, watching plant-fan-2 (its page URL is logged).
    """
    config = load_config()
    ensure_sandbox_tools(InfraPaths.default().log("system"))
    prefix = f" (topic prefix {config.topic_prefix})" if config.topic_prefix else ""
    click.echo(
        f"Canopy: bus {config.bus_url}{prefix}, store {_redact(config.db_url)}, blobs {config.blob_url}"
    )
    click.echo(f"API on http://{config.api_host}:{config.api_port}/api/v1 ; Ctrl-C stops.")
    run_services([name for name in SERVICES if demo or name != "demo"], config)


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    return f"{scheme}{sep}{credentials.split(':')[0]}:***@{host}" if at else url
