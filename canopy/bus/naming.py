"""A platform's names on a shared Kafka cluster: its topic prefix put in front of topics, patterns and groups.

The rest of the code uses the logical names of canopy.contracts.topics; the Kafka adapter, the ACLs and
the logins handed to nodes and devices put CANOPY_TOPIC_PREFIX in front, so several platforms (or a
platform and a test run) share one cluster without seeing each other's messages.
"""

from __future__ import annotations

import re

MAX_PREFIX = 60
_PREFIX = re.compile(r"[A-Za-z0-9-]+(?:[.][A-Za-z0-9-]+)*[.]?")


def parse_prefix(raw: str) -> str:
    """A CANOPY_TOPIC_PREFIX value as used: empty, or the name followed by one '.' (e.g. 'team-a.')."""
    if not raw:
        return ""
    if len(raw) > MAX_PREFIX or not _PREFIX.fullmatch(raw):
        raise ValueError(
            f"use up to {MAX_PREFIX} letters, digits, '-' and '.' (not first), e.g. team-a or staging.eu"
        )
    return raw if raw.endswith(".") else f"{raw}."


def prefixed(prefix: str, name: str) -> str:
    """The name a topic, consumer group or login has on the cluster."""
    return f"{prefix}{name}"


def unprefixed(prefix: str, name: str) -> str:
    """The logical name of a topic read from the cluster (names outside the prefix are kept whole)."""
    return name[len(prefix) :] if prefix and name.startswith(prefix) else name


def prefixed_subscription(prefix: str, subscription: str) -> str:
    """A topic, or a '^regex' pattern anchored inside the prefix, as subscribed on the cluster."""
    if not subscription.startswith("^"):
        return prefixed(prefix, subscription)
    if not prefix:
        return subscription
    return "^" + prefix.replace(".", "[.]") + f"({subscription[1:]})"
