"""The bus interface every driver implements: keyed publish, consumer groups, commit after handling."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Record:
    """One message as consumed: where it came from and its bytes."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    timestamp_ms: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Credentials:
    """A bus login: a SASL/SCRAM-SHA-512 user name and password (the SQLite bus needs none)."""

    username: str
    password: str = field(repr=False)


class Consumer(ABC):
    """A member of a consumer group; partitions of its topics are spread over the group's members."""

    # How long a consuming loop's poll may wait before the loop looks at its stop flag again: long where
    # wake() cuts a poll short, so idle loops wake rarely (each wake-up costs CPU), short where it cannot.
    idle_poll_seconds = 0.5

    @abstractmethod
    def poll(self, timeout: float = 1.0) -> Record | None:
        """Return the next record, or None when nothing arrived within `timeout` seconds."""

    @abstractmethod
    def commit(self, record: Record) -> None:
        """Mark `record` and everything before it in its partition as handled by the group."""

    @abstractmethod
    def close(self) -> None:
        """Leave the group; uncommitted records go to the next owner of the partition."""

    @abstractmethod
    def wake(self) -> None:
        """Make a poll waiting on another thread return None soon (a no-op where polls cannot be cut)."""


class Bus(ABC):
    """A message bus chosen by URL; see canopy.bus.open_bus.

    Callers use logical topic and group names; a driver whose brokers several platforms share puts
    `topic_prefix` in front of them (canopy.bus.naming), one whose storage is the platform's own ignores it.
    """

    def __init__(
        self,
        url: str,
        *,
        partitions: int = 3,
        credentials: Credentials | None = None,
        topic_prefix: str = "",
    ) -> None:
        self.url = url
        self.partitions = partitions
        self.credentials = credentials
        self.topic_prefix = topic_prefix

    @abstractmethod
    def ensure_topic(self, topic: str, partitions: int | None = None) -> None:
        """Create `topic` if it does not exist (with the configured partitions by default)."""

    @abstractmethod
    def publish(
        self, topic: str, value: bytes, key: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        """Queue one message; records with the same key keep their order within the topic."""

    @abstractmethod
    def flush(self, timeout: float = 30.0) -> None:
        """Block until every queued message is acknowledged, or raise Timeout/Unavailable."""

    @abstractmethod
    def consumer(self, group: str, topics: Sequence[str], *, from_beginning: bool = True) -> Consumer:
        """Join consumer `group` on `topics`; new groups start at the earliest or the latest offset.

        A topic starting with '^' is a regular expression: every topic matching it, now or created
        later, is consumed (a topic created after the join is read from its beginning).
        """

    @abstractmethod
    def close(self) -> None:
        """Flush and release connections."""
