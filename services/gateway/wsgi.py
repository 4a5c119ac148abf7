"""The gateway under gunicorn: the app is built once per worker, after the fork, and stopped on its exit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import Application

from canopy.config import Config, load_config
from canopy.logs.handler import LogShipping
from canopy.private import secure_home
from canopy.redaction import configure_logging
from canopy.runtime import Component, Service
from canopy.runtime.backends import Backends, open_backends
from canopy.runtime.health import component_checks
from canopy.runtime.heartbeat import HeartbeatSender
from services.gateway.context import GatewayContext
from services.gateway.service import gateway_app

CONFIG_FILE = Path(__file__).resolve().parents[2] / "deploy" / "gunicorn.conf.py"
WORKER = "canopy-worker"


class FeedComponent:
    """The gateway's device feed as a service component: started with the worker, stopped on exit."""

    name = "device-feed"

    def __init__(self, context: GatewayContext) -> None:
        self.context = context

    def start(self) -> None:
        """Join the bus and start fanning readings out."""
        self.context.feed.start()

    def stop(self) -> None:
        """Stop the feed (and whatever else the gateway's context runs)."""
        self.context.close()


class GatewayWorker:
    """What one worker process runs besides requests: backends, log shipping, device feed and heartbeat."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.backends: Backends | None = None
        self.service: Service | None = None

    def start(self) -> Flask:
        """Open the backends, make sure the first administrator exists, build the app, start its work."""
        configure_logging(self.config.log_level)
        secure_home(self.config.home)
        self.backends = open_backends(self.config)
        app = gateway_app(self.backends)
        context: GatewayContext = app.extensions["canopy"]
        heartbeat = HeartbeatSender(self.backends.bus, "gateway", self.config.heartbeat_interval)
        shipping = LogShipping(self.backends.bus, "gateway")
        components: list[Component] = [shipping, FeedComponent(context), heartbeat]
        self.backends.checks.update(component_checks(components))
        self.service = Service("gateway", components)
        self.service.start()
        app.extensions[WORKER] = self
        return app

    def stop(self) -> None:
        """Stop the feed and heartbeat, then close the backends."""
        if self.service is not None:
            self.service.stop()
        if self.backends is not None:
            self.backends.close()


def worker_app() -> Flask:
    """The app factory gunicorn calls once in each worker (`services.gateway.wsgi:worker_app()`)."""
    return GatewayWorker(load_config()).start()


def stop_worker(_arbiter: Any, worker: Any) -> None:
    """The worker_exit hook of gunicorn: stop what worker_app started, in the exiting worker."""
    app = getattr(worker, "wsgi", None)
    running = app.extensions.get(WORKER) if isinstance(app, Flask) else None
    if isinstance(running, GatewayWorker):
        running.stop()


class GatewayServer(Application):  # type: ignore[misc]
    """gunicorn with the settings of deploy/gunicorn.conf.py and the gateway's app factory."""

    def __init__(self, config_file: Path = CONFIG_FILE) -> None:
        self.config_file = config_file
        super().__init__(prog="python -m services.gateway")

    def load_config(self) -> None:
        """Read the settings from the config file only (no command line), once CANOPY_* settings are valid."""
        load_config()  # a bad setting is refused here with its own message, not as the file's traceback
        if not self.config_file.is_file():
            raise RuntimeError(f"the gunicorn settings {self.config_file} are missing; reinstall Canopy")
        self.load_config_from_file(str(self.config_file))

    def load(self) -> Flask:
        """Build the app; runs in the worker, after the fork."""
        return worker_app()


def serve() -> None:
    """Run the gateway under gunicorn until SIGTERM (graceful) or SIGINT."""
    GatewayServer().run()
