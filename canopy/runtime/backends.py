"""Open the bus, store and artifact store a configuration names."""

from __future__ import annotations

from dataclasses import dataclass, field

from canopy.blob import BlobStore, open_blob
from canopy.bus import Bus, Credentials, open_bus
from canopy.config import Config
from canopy.runtime.health import Check
from canopy.store import Store, open_store


@dataclass
class Backends:
    """The three shared backends of a platform process."""

    config: Config
    bus: Bus
    store: Store
    blob: BlobStore
    checks: dict[str, Check] = field(default_factory=dict)  # health checks of this process's components

    def close(self) -> None:
        """Release every backend."""
        self.bus.close()
        self.store.close()


def bus_credentials(config: Config) -> Credentials | None:
    """The bus login CANOPY_KAFKA_USERNAME/PASSWORD name, or None when no user is set."""
    if not config.kafka_username:
        return None
    return Credentials(config.kafka_username, config.kafka_password)


def open_config_bus(config: Config, url: str = "") -> Bus:
    """The bus at `url` (default CANOPY_BUS_URL) with the configured login, partitions and topic prefix."""
    return open_bus(
        url or config.bus_url,
        partitions=config.bus_partitions,
        credentials=bus_credentials(config),
        topic_prefix=config.topic_prefix,
    )


def open_backends(config: Config) -> Backends:
    """Open every backend and bring the store's schema up to date."""
    config.home  # noqa: B018 - creates the data directory the embedded defaults live in
    bus = open_config_bus(config)
    store = open_store(config.db_url)
    store.migrate()
    return Backends(config, bus, store, open_blob(config.blob_url, config))
