"""The app instance's own database (apps that declare "database": true): its URI and a pymongo handle.

pymongo is imported only when the database is asked for; the app's own requirements bring it.
"""

from __future__ import annotations

import threading
from typing import Any

from platform_sdk import environment
from platform_sdk.errors import ConfigError

_NO_DATABASE = (
    'this app instance has no database ({name} is not set); declare "database": true in the app\'s '
    "app.json and start a new instance"
)
_clients: dict[str, Any] = {}
_lock = threading.Lock()


def _required(name: str) -> str:
    """A database variable of the workload environment; ConfigError naming the flag when it is missing."""
    found = environment.value(name)
    if not found:
        raise ConfigError(_NO_DATABASE.format(name=name))
    return found


def get_mongo_db_uri() -> str:
    """The MongoDB URI of this instance's database (CANOPY_MONGODB_URI)."""
    return _required(environment.MONGODB_URI)


def get_mongo_db_database() -> Any:
    """The pymongo Database of this instance (CANOPY_MONGODB_DATABASE on CANOPY_MONGODB_URI)."""
    uri, name = get_mongo_db_uri(), _required(environment.MONGODB_DATABASE)
    try:
        import pymongo  # the app's own dependency, never the platform's
    except ImportError:
        raise ConfigError(
            "get_mongo_db_database needs pymongo: add pymongo to the app's requirements.txt"
        ) from None
    with _lock:
        client = _clients.get(uri)
        if client is None:
            client = _clients[uri] = pymongo.MongoClient(uri)
    return client[name]
