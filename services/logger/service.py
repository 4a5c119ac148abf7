"""Assemble the logger: the ingest of log records and dead letters, and the daily archive and retention."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from canopy.blob import BlobStore
from canopy.logs.archive import archive_finished_days
from canopy.logs.store import Retention, prune
from canopy.runtime import Component
from canopy.runtime.backends import Backends
from canopy.runtime.component import LoopThread
from canopy.store import Store
from services.logger.ingest import LogIngest

log = logging.getLogger(__name__)

GROUP = "logger"
MAINTENANCE_SECONDS = 60.0


class Maintenance(LoopThread):
    """Archives each finished day to blob storage, then applies the retention limits; once a minute."""

    name = "logger-maintenance"
    idle_seconds = MAINTENANCE_SECONDS

    def __init__(
        self,
        store: Store,
        blob: BlobStore,
        retention: Retention,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__()
        self.store, self.blob, self.retention, self.now = store, blob, retention, now

    def step(self) -> None:
        """Archive, then prune (a day is archived before its records can be pruned)."""
        now = self.now()
        for day in archive_finished_days(self.store, self.blob, now):
            log.info("logs of %s archived", day.isoformat())
        removed = prune(self.store, self.retention, now)
        if removed:
            log.info("%d log records past the retention limits removed", removed)


def logger_components(backends: Backends, group: str = GROUP, from_beginning: bool = True) -> list[Component]:
    """The logger's components on the configured backends and CANOPY_LOG_* limits."""
    config = backends.config
    retention = Retention(int(config.log_retention_days), int(config.log_max_records))
    return [
        LogIngest(backends.bus, backends.store, group, from_beginning),
        Maintenance(backends.store, backends.blob, retention),
    ]
