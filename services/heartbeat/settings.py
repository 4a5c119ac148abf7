"""The heartbeat service's timeouts and restart budget, read from the configuration."""

from __future__ import annotations

from dataclasses import dataclass

from canopy.config import Config
from canopy.healing.liveness import Timeouts
from canopy.healing.restarts import Budget

BACKOFF_CAP = 30.0


@dataclass(frozen=True)
class HealSettings:
    """How long replicas, nodes and services may stay silent, and how often a workload is restarted."""

    replica: Timeouts
    node_timeout: float
    service_misses: float
    budget: Budget
    alert_to: str = ""

    @classmethod
    def from_config(cls, config: Config) -> HealSettings:
        """The settings of CANOPY_HEAL_*."""
        return cls(
            replica=Timeouts(silence=config.heal_replica_timeout, hang=config.heal_hang_timeout),
            node_timeout=config.heal_node_timeout,
            service_misses=config.heal_service_timeout,
            budget=Budget(
                restarts=config.heal_restarts,
                window=config.heal_window,
                backoff=config.heal_backoff,
                cap=max(BACKOFF_CAP, config.heal_backoff),
            ),
            alert_to=config.heal_alert_to,
        )
