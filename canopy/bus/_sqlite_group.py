"""Consumer groups in the SQLite bus: live members, partition claims and committed offsets."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from canopy.bus._rules import subscribes
from canopy.bus._sqlite_schema import head_offset, write_transaction

TopicPartition = tuple[str, int]
HEARTBEAT_INTERVAL = 3.0  # seconds at most between a member's heartbeats (Kafka's default pace)


def assign(
    members: Mapping[str, Sequence[str]], partitions: Mapping[str, int]
) -> dict[str, set[TopicPartition]]:
    """Give each partition to its least-loaded subscriber; topics with fewer subscribers go first."""
    assignment: dict[str, set[TopicPartition]] = {member: set() for member in members}
    subscribers = {
        topic: sorted(member for member, topics in members.items() if subscribes(topics, topic))
        for topic in partitions
    }
    for topic in sorted(partitions, key=lambda topic: (len(subscribers[topic]), topic)):
        for partition in range(partitions[topic] if subscribers[topic] else 0):
            owner = min(subscribers[topic], key=lambda member: (len(assignment[member]), member))
            assignment[owner].add((topic, partition))
    return assignment


@dataclass
class _Plan:
    """What one sync must change (evictions, a rejoin, partitions to give up and to take) and its outcome."""

    dead: set[str] = field(default_factory=set)
    rejoin: bool = False
    release: set[TopicPartition] = field(default_factory=set)
    acquire: set[TopicPartition] = field(default_factory=set)
    owned: set[TopicPartition] = field(default_factory=set)

    def changes_claims(self) -> bool:
        """Whether the plan needs the write lock for anything besides a heartbeat."""
        return bool(self.dead or self.rejoin or self.release or self.acquire)


class GroupMember:
    """One consumer's seat in a group: it heartbeats, claims its share of partitions and commits."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        group: str,
        topics: Sequence[str],
        *,
        session_timeout: float,
        from_beginning: bool,
    ) -> None:
        self.conn = conn
        self.group = group
        self.topics = sorted(set(topics))
        self.member_id = uuid.uuid4().hex
        self.session_timeout = session_timeout
        self.heartbeat_interval = min(HEARTBEAT_INTERVAL, session_timeout / 3)
        self.from_beginning = from_beginning
        self.last_heartbeat = 0.0
        self._assignment: tuple[object, frozenset[TopicPartition]] | None = None

    def join(self, now: float) -> None:
        """Register as a live member and give the group a start offset where it has none yet."""
        with write_transaction(self.conn):
            self._insert_member(now)
            for topic, partitions in self._partitions().items():
                if not subscribes(self.topics, topic):
                    continue
                for partition in range(partitions):
                    start = 0 if self.from_beginning else head_offset(self.conn, topic, partition)
                    self.conn.execute(
                        "INSERT OR IGNORE INTO committed_offsets VALUES (?, ?, ?, ?)",
                        (self.group, topic, partition, start),
                    )

    def sync(self, now: float) -> tuple[set[TopicPartition], dict[TopicPartition, int]]:
        """Heartbeat and rebalance; return the partitions owned now and start offsets of the new ones.

        The group is read without the write lock only when no heartbeat is due (then most syncs change
        nothing); when one is, it is read once, under the lock.
        """
        if now - self.last_heartbeat < self.heartbeat_interval:
            plan = self._plan(now)
            if not plan.changes_claims():
                return plan.owned, {}
        with write_transaction(self.conn):
            plan = self._plan(now)
            self._evict(plan.dead)
            if plan.rejoin:
                self._insert_member(now)
            else:
                self.conn.execute(
                    "UPDATE members SET heartbeat = ? WHERE group_id = ? AND member_id = ?",
                    (now, self.group, self.member_id),
                )
            self.last_heartbeat = now
            for topic, partition in plan.release:
                self.conn.execute(
                    "DELETE FROM claims WHERE group_id = ? AND topic = ? AND partition_id = ?",
                    (self.group, topic, partition),
                )
            starts = {tp: self._claim(*tp) for tp in plan.acquire}
        return plan.owned, starts

    def commit(self, offsets: Mapping[TopicPartition, int]) -> set[TopicPartition]:
        """Store the group's next offsets in partitions this member still claims; return the others."""
        refused = set()
        with write_transaction(self.conn):
            for (topic, partition), next_offset in offsets.items():
                cursor = self.conn.execute(
                    "INSERT INTO committed_offsets SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM claims"
                    " WHERE group_id = ? AND topic = ? AND partition_id = ? AND member_id = ?)"
                    " ON CONFLICT DO UPDATE SET next_offset = excluded.next_offset",
                    (self.group, topic, partition, next_offset, self.group, topic, partition, self.member_id),
                )
                if cursor.rowcount == 0:
                    refused.add((topic, partition))
        return refused

    def leave(self) -> None:
        """Drop out of the group at once so the others take over this member's partitions."""
        with write_transaction(self.conn):
            self._evict({self.member_id})

    def _plan(self, now: float) -> _Plan:
        """Compare the group's members and claims with the assignment this member should hold."""
        members: dict[str, list[str]] = {}
        dead: set[str] = set()
        for member_id, topics, heartbeat in self.conn.execute(
            "SELECT member_id, topics, heartbeat FROM members WHERE group_id = ?", (self.group,)
        ):
            if member_id != self.member_id and heartbeat < now - self.session_timeout:
                dead.add(member_id)
            else:
                members[member_id] = json.loads(topics)
        rejoin = self.member_id not in members
        members[self.member_id] = self.topics
        claims = {
            (topic, partition): member_id
            for topic, partition, member_id in self.conn.execute(
                "SELECT topic, partition_id, member_id FROM claims WHERE group_id = ?", (self.group,)
            )
        }
        wanted = self._wanted(members, self._partitions())
        held = {tp for tp, member_id in claims.items() if member_id == self.member_id}
        free = {tp for tp in wanted - held if claims.get(tp) not in members}
        return _Plan(
            dead=dead, rejoin=rejoin, release=held - wanted, acquire=free, owned=(held & wanted) | free
        )

    def _wanted(self, members: dict[str, list[str]], partitions: dict[str, int]) -> frozenset[TopicPartition]:
        """The partitions `assign` gives this member, recomputed only when members or topics change."""
        key = (sorted(members.items()), sorted(partitions.items()))
        if self._assignment is None or self._assignment[0] != key:
            self._assignment = (key, frozenset(assign(members, partitions)[self.member_id]))
        return self._assignment[1]

    def _partitions(self) -> dict[str, int]:
        """Partition counts of every topic on the bus."""
        return dict(self.conn.execute("SELECT name, partitions FROM topics").fetchall())

    def _insert_member(self, now: float) -> None:
        """Add (or re-add after an eviction) this member with a fresh heartbeat."""
        self.conn.execute(
            "INSERT OR REPLACE INTO members VALUES (?, ?, ?, ?)",
            (self.group, self.member_id, json.dumps(self.topics), now),
        )

    def _evict(self, member_ids: set[str]) -> None:
        """Remove members and free their claims."""
        for member_id in member_ids:
            self.conn.execute(
                "DELETE FROM members WHERE group_id = ? AND member_id = ?", (self.group, member_id)
            )
            self.conn.execute(
                "DELETE FROM claims WHERE group_id = ? AND member_id = ?", (self.group, member_id)
            )

    def _claim(self, topic: str, partition: int) -> int:
        """Take a partition and return the group's committed offset in it, where reading resumes."""
        self.conn.execute(
            "INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?)",
            (self.group, topic, partition, self.member_id),
        )
        row = self.conn.execute(
            "SELECT next_offset FROM committed_offsets WHERE group_id = ? AND topic = ? AND partition_id = ?",
            (self.group, topic, partition),
        ).fetchone()
        return int(row[0]) if row else 0
