"""Where a new Kafka consumer group that asked for the latest records starts: never past one it should see."""

from __future__ import annotations

from typing import Any

from confluent_kafka import TopicPartition

from canopy.bus._kafka_consumer import new_group_starts

UNCOMMITTED = -1001


class Partitions:
    """A stand-in for the librdkafka consumer's lookups over partitions of topic 't'."""

    def __init__(self, ends: dict[int, int], by_time: dict[int, int], committed: dict[int, int]) -> None:
        self.ends, self.by_time, self.committed_at = ends, by_time, committed
        self.arrivals: dict[int, int] = {}

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        """The group's committed offsets."""
        return [
            TopicPartition(tp.topic, tp.partition, self.committed_at.get(tp.partition, UNCOMMITTED))
            for tp in partitions
        ]

    def offsets_for_times(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        """The first offset stamped at or after the time; the records in `arrivals` land just after."""
        found = [
            TopicPartition(tp.topic, tp.partition, self.by_time.get(tp.partition, -1)) for tp in partitions
        ]
        for partition, count in self.arrivals.items():
            self.ends[partition] += count
        return found

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float) -> tuple[int, int]:
        """The partition's low and high watermarks."""
        return 0, self.ends[tp.partition]


def offsets(starts: list[TopicPartition]) -> dict[int, int]:
    """The start offsets by partition."""
    return {tp.partition: tp.offset for tp in starts}


def start(partitions: Any, count: int) -> list[TopicPartition]:
    """The starts of the first `count` partitions of 't' for a consumer created at t=1000 ms."""
    return new_group_starts(partitions, [TopicPartition("t", n) for n in range(count)], joined_ms=1000)


def test_a_record_that_lands_during_the_lookup_by_time_is_read_not_skipped() -> None:
    partitions = Partitions(ends={0: 5}, by_time={}, committed={})
    partitions.arrivals = {0: 1}  # a command published just as the group was assigned
    assert offsets(start(partitions, 1)) == {0: 5}


def test_a_partition_starts_at_its_first_record_since_the_consumer_was_created() -> None:
    partitions = Partitions(ends={0: 9, 1: 4}, by_time={0: 7}, committed={})
    assert offsets(start(partitions, 2)) == {0: 7, 1: 4}


def test_committed_partitions_are_left_where_the_group_stands() -> None:
    partitions = Partitions(ends={0: 9, 1: 4}, by_time={}, committed={0: 3, 1: 2})
    assert start(partitions, 2) == []
