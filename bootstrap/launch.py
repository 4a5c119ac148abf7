"""Start named services in this process on the configured backends, until SIGTERM."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence

from canopy.config import Config, load_config
from canopy.runtime import Component, Service
from canopy.runtime.backends import Backends, open_backends
from canopy.runtime.heartbeat import HeartbeatSender
from canopy.runtime.ops import OpsServer

ComponentFactory = Callable[[Backends], list[Component]]

SERVICES: dict[str, str] = {
    "gateway": "services.gateway.service:gateway_components",
    "node_manager": "services.node_manager.service:node_manager_components",
    "deployer": "services.deployer.service:deployer_components",
    "node_agent": "services.node_agent.service:local_agent_components",
    "device_manager": "services.device_manager.service:device_manager_components",
}


def factory_for(name: str) -> ComponentFactory:
    """The component factory of a service, by name."""
    module_name, attribute = SERVICES[name].split(":")
    factory: ComponentFactory = getattr(importlib.import_module(module_name), attribute)
    return factory


def build_service(backends: Backends, names: Sequence[str]) -> Service:
    """One process-level Service holding the components of every named service plus heartbeats."""
    components: list[Component] = []
    for name in names:
        components.extend(factory_for(name)(backends))
        components.append(HeartbeatSender(backends.bus, name, backends.config.heartbeat_interval))
    if "gateway" not in names:
        components.append(OpsServer("+".join(names), lambda: {"status": "ok"}, port=backends.config.ops_port))
    return Service("canopy" if len(names) > 1 else names[0], components)


def configure_logging(config: Config) -> None:
    """Log to stderr at the configured level."""
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_services(names: Sequence[str], config: Config | None = None) -> None:
    """Open the backends, run the services until SIGTERM or Ctrl-C, then close everything."""
    config = config or load_config()
    configure_logging(config)
    backends = open_backends(config)
    try:
        build_service(backends, names).run()
    finally:
        backends.close()
