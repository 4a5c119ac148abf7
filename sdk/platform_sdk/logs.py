"""get_logger: a logger writing one JSON line per record to stderr, which the agent captures."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

from platform_sdk import environment

LOGGER_PREFIX = "canopy.app"


class JsonLineFormatter(logging.Formatter):
    """Formats a record as {"time", "level", "source", "instance", "message"} on one line."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line (an exception's traceback goes into "exception")."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "source": self.source,
            "instance": environment.instance_id() or None,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def get_logger(
    sys_name: str | None = None, host_port: str | None = None, level: int = logging.DEBUG
) -> logging.Logger:
    """A logger for the app (or the part named `sys_name`) writing JSON lines to stderr.

    `host_port` is accepted for the original signature and not used: workload output is collected by
    the platform, not sent to a log server. Asking twice for the same name returns the same logger.
    """
    del host_port
    source = sys_name or environment.instance_id() or "app"
    logger = logging.getLogger(f"{LOGGER_PREFIX}.{source}")
    logger.setLevel(level)
    if not any(getattr(handler, "canopy_json", False) for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLineFormatter(source))
        handler.canopy_json = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.propagate = False
    return logger
