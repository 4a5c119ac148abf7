"""The CANOPY_* variables the SDK reads, with the defaults canopy.config shares; stdlib only.

A workload gets CANOPY_API_URL, CANOPY_TOKEN, CANOPY_INSTANCE_ID and, when its app asked for a database,
CANOPY_MONGODB_URI and CANOPY_MONGODB_DATABASE from its runtime; a host program or the CLI gets the
URL and token from the environment or the token `canopy login` saved under CANOPY_HOME.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

DEFAULT_API_URL = "http://127.0.0.1:8080"
DEFAULT_HOME = "~/.canopy"
API_URL = "CANOPY_API_URL"
TOKEN = "CANOPY_TOKEN"
HOME = "CANOPY_HOME"
INSTANCE_ID = "CANOPY_INSTANCE_ID"
MONGODB_URI = "CANOPY_MONGODB_URI"
MONGODB_DATABASE = "CANOPY_MONGODB_DATABASE"


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    """The mapping to read: `environ`, or the process environment."""
    return os.environ if environ is None else environ


def api_url(environ: Mapping[str, str] | None = None) -> str:
    """The gateway URL: CANOPY_API_URL, else the local default, without a trailing slash."""
    return (_env(environ).get(API_URL) or DEFAULT_API_URL).rstrip("/")


def token(environ: Mapping[str, str] | None = None) -> str:
    """The bearer token given in CANOPY_TOKEN, or empty."""
    return _env(environ).get(TOKEN, "")


def canopy_home(environ: Mapping[str, str] | None = None) -> Path:
    """The CLI's data directory: CANOPY_HOME, else ~/.canopy (not created here)."""
    return Path(_env(environ).get(HOME) or DEFAULT_HOME).expanduser()


def instance_id(environ: Mapping[str, str] | None = None) -> str:
    """The app instance this process runs as (CANOPY_INSTANCE_ID), or empty outside an app instance."""
    return _env(environ).get(INSTANCE_ID, "")


def value(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The value of one variable, or empty."""
    return _env(environ).get(name, "")
