"""The services page lists platform services of other processes by their heartbeats on the bus."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from canopy.bus import Bus
from canopy.roles import Role
from canopy.runtime.backends import Backends, open_config_bus
from canopy.runtime.heartbeat import HeartbeatSender
from tests.deploy_helpers import wait_for
from tests.portal_forms import PortalBrowser

SignIn = Callable[[Role], PortalBrowser]
BEAT_ROW = r'<tr data-beat="{}">(.*?)</tr>'


@pytest.fixture()
def quick_heal(canopy_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A service is missing after two silent heartbeat intervals (requested before the backends open)."""
    monkeypatch.setenv("CANOPY_HEAL_SERVICE_TIMEOUT", "2")


@pytest.fixture()
def standalone_bus(backends: Backends) -> Iterator[Bus]:
    """A bus connection of its own, as a service run with `python -m services.X` opens."""
    bus = open_config_bus(backends.config)
    yield bus
    bus.close()


def beat_row(html: str, service: str) -> str:
    """The row of a service heard by its heartbeats ('' when it is not listed)."""
    found = re.search(BEAT_ROW.format(service), html, re.S)
    return found.group(1) if found else ""


def page_once(admin: PortalBrowser, service: str, state: str) -> str:
    """Wait until the services page lists `service` heard by heartbeat in `state`; that page."""

    def listed() -> str:
        html = admin.get("/portal/services").get_data(as_text=True)
        return html if f'data-state="{state}"' in beat_row(html, service) else ""

    found: str = wait_for(listed, 20, f"{service} listed as {state}")
    return found


def test_services_of_other_processes_show_up_by_heartbeat_then_go_missing(
    quick_heal: None, backends: Backends, standalone_bus: Bus, signed_in: SignIn
) -> None:
    admin = signed_in(Role.PLATFORM_ADMIN)
    assert "No heartbeat heard" in admin.get("/portal/services").get_data(as_text=True)  # now listening
    here = HeartbeatSender(backends.bus, "gateway", 30.0)
    backends.checks.update(here.checks())  # the gateway's own process beats for it, as under gunicorn
    scheduler = HeartbeatSender(standalone_bus, "scheduler", 30.0)
    logger = HeartbeatSender(standalone_bus, "logger", 0.5)
    for sender in (here, scheduler, logger):
        sender.start()
    try:
        page_once(admin, "logger", "up")
        html = page_once(admin, "scheduler", "up")
        assert "scheduler@" in beat_row(html, "scheduler") and "UTC</time>" in beat_row(html, "scheduler")
        assert beat_row(html, "gateway") == "" and 'data-service="gateway"' in html  # listed once, as local
        logger.stop()
        html = page_once(admin, "logger", "missing")
        assert 'data-state="up"' in beat_row(html, "scheduler")
    finally:
        for sender in (here, scheduler, logger):
            sender.stop()


def test_services_heard_are_shown_to_the_platform_admin_only(
    backends: Backends, standalone_bus: Bus, signed_in: SignIn
) -> None:
    admin = signed_in(Role.PLATFORM_ADMIN)
    admin.get("/portal/services")
    scheduler = HeartbeatSender(standalone_bus, "scheduler", 30.0)
    scheduler.start()
    try:
        page_once(admin, "scheduler", "up")
    finally:
        scheduler.stop()
    for role in (Role.AI_DEVELOPER, Role.APP_DEVELOPER, Role.END_USER):
        response = signed_in(role).get("/portal/services")
        assert response.status_code == 403 and "scheduler" not in response.get_data(as_text=True)
