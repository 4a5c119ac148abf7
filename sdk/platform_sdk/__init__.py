"""The Canopy platform SDK: an app's devices, models, notifications, logs and database, over the REST API.

Everything here is standard library only, so the SDK runs inside any workload (Python 3.9 or later)
next to whatever an app or a model pins. Names are imported on first use, so `python -m platform_sdk.serving`
inside a model workload loads none of the client modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from platform_sdk._client import (
        ApiClient,
        default_client,
    )
    from platform_sdk.database import (
        get_mongo_db_database,
        get_mongo_db_uri,
    )
    from platform_sdk.devices import (
        get_sensor_data,
        get_sensor_image,
        get_stream_image,
        send_controller_data,
        stream_sensor,
    )
    from platform_sdk.errors import (
        BadRequest,
        CanopyError,
        ConfigError,
        Conflict,
        Forbidden,
        NotFound,
        Timeout,
        TooManyRequests,
        Unauthorized,
        Unavailable,
        ValidationFailed,
    )
    from platform_sdk.legacy import (
        get_prediction,
        get_prediction_using_image,
    )
    from platform_sdk.logs import (
        get_logger,
    )
    from platform_sdk.models import (
        model_call,
    )
    from platform_sdk.notifications import (
        notify,
        send_email_notification,
    )

_EXPORTS = {
    "ApiClient": "platform_sdk._client",
    "default_client": "platform_sdk._client",
    "model_call": "platform_sdk.models",
    "get_sensor_data": "platform_sdk.devices",
    "stream_sensor": "platform_sdk.devices",
    "get_sensor_image": "platform_sdk.devices",
    "get_stream_image": "platform_sdk.devices",
    "send_controller_data": "platform_sdk.devices",
    "get_prediction": "platform_sdk.legacy",
    "get_prediction_using_image": "platform_sdk.legacy",
    "get_mongo_db_uri": "platform_sdk.database",
    "get_mongo_db_database": "platform_sdk.database",
    "get_logger": "platform_sdk.logs",
    "notify": "platform_sdk.notifications",
    "send_email_notification": "platform_sdk.notifications",
    "CanopyError": "platform_sdk.errors",
    "BadRequest": "platform_sdk.errors",
    "ValidationFailed": "platform_sdk.errors",
    "Unauthorized": "platform_sdk.errors",
    "Forbidden": "platform_sdk.errors",
    "NotFound": "platform_sdk.errors",
    "Conflict": "platform_sdk.errors",
    "ConfigError": "platform_sdk.errors",
    "TooManyRequests": "platform_sdk.errors",
    "Unavailable": "platform_sdk.errors",
    "Timeout": "platform_sdk.errors",
}

__all__ = [
    "ApiClient",
    "BadRequest",
    "CanopyError",
    "ConfigError",
    "Conflict",
    "Forbidden",
    "NotFound",
    "Timeout",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
    "ValidationFailed",
    "default_client",
    "get_logger",
    "get_mongo_db_database",
    "get_mongo_db_uri",
    "get_prediction",
    "get_prediction_using_image",
    "get_sensor_data",
    "get_sensor_image",
    "get_stream_image",
    "model_call",
    "notify",
    "send_controller_data",
    "send_email_notification",
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
