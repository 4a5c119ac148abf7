"""Assemble the heartbeat service: three subscriptions feed the detectors; a loop heals what they confirm."""

from __future__ import annotations

from canopy.bus.typed import Handler, Subscriber
from canopy.contracts import topics
from canopy.deployments.records import platform_group
from canopy.runtime import Component
from canopy.runtime.backends import Backends
from canopy.runtime.component import LoopThread
from canopy.runtime.subscription import SubscriptionLoop
from canopy.workloads.commands import load_or_create_signing_key
from services.heartbeat.healer import Healer
from services.heartbeat.settings import HealSettings
from services.heartbeat.watch import Watcher

TICK_SECONDS = 0.2


class HealingLoop(LoopThread):
    """Checks the detectors and issues due heals a few times a second."""

    name = "healing"
    idle_seconds = TICK_SECONDS

    def __init__(self, watcher: Watcher, healer: Healer) -> None:
        super().__init__()
        self.watcher = watcher
        self.healer = healer

    def step(self) -> None:
        """One round: confirm failures, then heal."""
        self.watcher.tick()
        self.healer.tick()


def heartbeat_components(backends: Backends) -> list[Component]:
    """The heartbeat service: node reports, heartbeats and deployment events in, heals and alerts out."""
    settings = HealSettings.from_config(backends.config)
    healer = Healer(backends, settings)
    watcher = Watcher(backends, settings, load_or_create_signing_key(backends.config.home), healer)
    bus, db_url = backends.bus, backends.config.db_url

    def live(name: str, topic: str, handler: Handler) -> SubscriptionLoop:
        """A subscription that starts at the newest record: only what happens from now on matters."""
        group = platform_group(f"heartbeat-{name}", db_url)
        return SubscriptionLoop(
            f"heartbeat-{name}",
            lambda: Subscriber(bus, group, [topic], handler, from_beginning=False),
        )

    return [
        live("status", topics.NODE_STATUS, watcher.on_status),
        live("beats", topics.HEARTBEAT, watcher.on_heartbeat),
        live("deployments", topics.DEPLOY_EVENTS, watcher.on_deployment),
        HealingLoop(watcher, healer),
    ]
