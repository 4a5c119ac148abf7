"""Start named services in this process on the configured backends, until SIGTERM."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

from canopy.config import Config, load_config
from canopy.logs.handler import LogShipping
from canopy.private import secure_home
from canopy.redaction import configure_logging
from canopy.runtime import Component, Service
from canopy.runtime.backends import Backends, open_backends
from canopy.runtime.health import component_checks, process_health
from canopy.runtime.heartbeat import HeartbeatSender
from canopy.runtime.memory import limit_malloc_arenas
from canopy.runtime.ops import OpsServer

ComponentFactory = Callable[[Backends], list[Component]]

SERVICES: dict[str, str] = {
    "gateway": "services.gateway.service:gateway_components",
    "node_manager": "services.node_manager.service:node_manager_components",
    "deployer": "services.deployer.service:deployer_components",
    "node_agent": "services.node_agent.service:local_agent_components",
    "device_manager": "services.device_manager.service:device_manager_components",
    "notifier": "services.notifier.service:notifier_components",
    "scheduler": "services.scheduler.service:scheduler_components",
    "logger": "services.logger.service:logger_components",
    "heartbeat": "services.heartbeat.service:heartbeat_components",
    "demo": "simulators.demo:demo_components",
}


def factory_for(name: str) -> ComponentFactory:
    """The component factory of a service, by name."""
    module_name, attribute = SERVICES[name].split(":")
    factory: ComponentFactory = getattr(importlib.import_module(module_name), attribute)
    return factory


def build_service(backends: Backends, names: Sequence[str]) -> Service:
    """One process-level Service holding the components of every named service plus their heartbeats."""
    components: list[Component] = []
    for name in names:
        components.extend(factory_for(name)(backends))
    components.append(HeartbeatSender(backends.bus, names, backends.config.heartbeat_interval))
    if "gateway" not in names:
        components.append(ops_server(backends, "+".join(names)))
    backends.checks.update(component_checks(components))
    return Service("canopy" if len(names) > 1 else names[0], components)


def ops_server(backends: Backends, name: str) -> OpsServer:
    """/health and /metrics for a process that has no gateway of its own.

    /health checks the store and every component in `backends.checks`, and answers 503 naming
    those failing.
    """
    return OpsServer(
        name, lambda: process_health(backends.store, backends.checks), port=backends.config.ops_port
    )


def serve(config: Config, make_service: Callable[[Backends], Service]) -> None:
    """Make CANOPY_HOME private, open the backends, run the service until SIGTERM or Ctrl-C, close all.

    Every log line of the process also goes over the bus to the logger while the service runs.
    """
    limit_malloc_arenas()
    configure_logging(config.log_level)
    secure_home(config.home)
    backends = open_backends(config)
    try:
        service = make_service(backends)
        shipping = LogShipping(backends.bus, service.name)
        shipping.start()
        try:
            service.run()
        finally:
            shipping.stop()
    finally:
        backends.close()


def run_services(names: Sequence[str], config: Config | None = None) -> None:
    """Run the named services together in this process."""
    serve(config or load_config(), lambda backends: build_service(backends, names))
