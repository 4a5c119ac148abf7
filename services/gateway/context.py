"""What the gateway's views need, kept on the Flask app."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from canopy.runtime.backends import Backends
from services.gateway.live import DeviceFeed
from services.gateway.slots import LongLivedSlots
from services.gateway.throttle import LoginThrottle


@dataclass
class GatewayContext:
    """Backends and shared state for request handlers."""

    backends: Backends
    throttle: LoginThrottle
    slots: LongLivedSlots
    feed: DeviceFeed

    def close(self) -> None:
        """Stop the background work the gateway started (the device feed)."""
        self.feed.stop()


def gateway_context() -> GatewayContext:
    """The context of the app serving the current request."""
    context: GatewayContext = current_app.extensions["canopy"]
    return context
