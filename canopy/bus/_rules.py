"""Rules shared by the bus drivers, so what one bus accepts the other accepts too."""

from __future__ import annotations

import re
from collections.abc import Sequence

from canopy.errors import BadRequest, PayloadTooLarge

MAX_VALUE_BYTES = 8 * 1024 * 1024
_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")


def check_topic(name: str) -> str:
    """Return `name` if Kafka would accept it as a topic name, else raise BadRequest."""
    if not _TOPIC_NAME.fullmatch(name) or name in {".", ".."}:
        raise BadRequest(f"Topic name {name!r} is not valid; use 1-249 letters, digits, '.', '_' or '-'")
    return name


def check_value(topic: str, value: bytes) -> bytes:
    """Return `value` if it fits in one message, else raise PayloadTooLarge."""
    if len(value) > MAX_VALUE_BYTES:
        raise PayloadTooLarge(
            f"A {len(value)}-byte message for {topic!r} is over the bus limit of "
            f"{MAX_VALUE_BYTES} bytes; put large data in the blob store"
        )
    return value


def is_pattern(subscription: str) -> bool:
    """Whether a consumer's topic is a regular expression (Kafka's convention: it starts with '^')."""
    return subscription.startswith("^")


def check_subscription(subscription: str) -> str:
    """Return a topic name or a valid '^regex' pattern, else raise BadRequest."""
    if not is_pattern(subscription):
        return check_topic(subscription)
    try:
        re.compile(subscription)
    except re.error as exc:
        raise BadRequest(f"Topic pattern {subscription!r} is not a valid regular expression: {exc}") from exc
    return subscription


def subscribes(subscriptions: Sequence[str], topic: str) -> bool:
    """Whether `topic` is one of the subscriptions or matches one of their patterns."""
    return any(
        re.fullmatch(sub, topic) is not None if is_pattern(sub) else sub == topic for sub in subscriptions
    )
