"""The Canopy platform SDK: a small facade over the platform's REST API, models and bus.

Names are imported on first use, so `python -m platform_sdk.serving` inside a model workload loads
none of the platform client's dependencies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from canopy.errors import (
        BadRequest,
        CanopyError,
        NotFound,
        Timeout,
        Unauthorized,
        Unavailable,
        ValidationFailed,
    )
    from platform_sdk._client import ApiClient, default_client
    from platform_sdk.devices import get_sensor_data, get_sensor_image, send_controller_data, stream_sensor
    from platform_sdk.models import model_call

_EXPORTS = {
    "ApiClient": "platform_sdk._client",
    "default_client": "platform_sdk._client",
    "model_call": "platform_sdk.models",
    "get_sensor_data": "platform_sdk.devices",
    "stream_sensor": "platform_sdk.devices",
    "get_sensor_image": "platform_sdk.devices",
    "send_controller_data": "platform_sdk.devices",
    "CanopyError": "canopy.errors",
    "BadRequest": "canopy.errors",
    "ValidationFailed": "canopy.errors",
    "Unauthorized": "canopy.errors",
    "NotFound": "canopy.errors",
    "Unavailable": "canopy.errors",
    "Timeout": "canopy.errors",
}

__all__ = [
    "ApiClient",
    "BadRequest",
    "CanopyError",
    "NotFound",
    "Timeout",
    "Unauthorized",
    "Unavailable",
    "ValidationFailed",
    "default_client",
    "get_sensor_data",
    "get_sensor_image",
    "model_call",
    "send_controller_data",
    "stream_sensor",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its private module the first time it is used."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'platform_sdk' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
