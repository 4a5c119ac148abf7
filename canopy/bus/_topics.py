"""Topic-name rules shared by the bus drivers, so a name valid on one bus is valid on the other."""

from __future__ import annotations

import re

from canopy.errors import BadRequest

_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")


def check_topic(name: str) -> str:
    """Return `name` if Kafka would accept it as a topic name, else raise BadRequest."""
    if not _TOPIC_NAME.fullmatch(name) or name in {".", ".."}:
        raise BadRequest(f"Topic name {name!r} is not valid; use 1-249 letters, digits, '.', '_' or '-'")
    return name
