"""Placement: least loaded live nodes whose labels and capacity fit, replicas spread across nodes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from canopy.placement import Demand, NodeView, NoNodeFits, is_alive, place

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def node(
    node_id: str,
    cpu: float = 10.0,
    memory: float = 10.0,
    *,
    labels: dict[str, str] | None = None,
    seen: float = 1.0,
    workloads: int = 0,
    max_workloads: int = 8,
    memory_mb: int = 8192,
) -> NodeView:
    """A node view reported `seen` seconds before NOW."""
    return NodeView(
        node_id=node_id,
        cpu_percent=cpu,
        memory_percent=memory,
        cpu_count=4,
        memory_mb=memory_mb,
        max_workloads=max_workloads,
        workloads=workloads,
        last_seen=NOW - timedelta(seconds=seen),
        labels=labels or {},
    )


def test_the_least_loaded_node_wins_by_cpu_and_memory() -> None:
    nodes = [node("busy-cpu", cpu=80), node("idle", cpu=20, memory=30), node("busy-mem", memory=90)]
    assert place(nodes, 1, Demand(), NOW) == ["idle"]


def test_load_is_numeric_not_a_string_compare() -> None:
    # The original platform compared "9.0" > "10.0" as strings and picked the busier node.
    assert place([node("a", cpu=9.0), node("b", cpu=10.0)], 1, Demand(), NOW) == ["a"]
    assert place([node("a", cpu=100.0), node("b", cpu=9.5)], 1, Demand(), NOW) == ["b"]


def test_labels_must_all_match() -> None:
    nodes = [
        node("idle-no-gpu", cpu=1, labels={"zone": "a"}),
        node("gpu-busy", cpu=70, labels={"zone": "a", "gpu": "yes"}),
        node("gpu-idle", cpu=40, labels={"zone": "b", "gpu": "yes"}),
    ]
    assert place(nodes, 1, Demand(labels={"gpu": "yes"}), NOW) == ["gpu-idle"]
    assert place(nodes, 1, Demand(labels={"gpu": "yes", "zone": "a"}), NOW) == ["gpu-busy"]


def test_no_matching_label_names_the_labels() -> None:
    with pytest.raises(NoNodeFits, match="zone=mars"):
        place([node("a")], 1, Demand(labels={"zone": "mars"}), NOW)


def test_replicas_spread_over_distinct_nodes_before_doubling_up() -> None:
    nodes = [node("a", cpu=5), node("b", cpu=50), node("c", cpu=90)]
    assert place(nodes, 2, Demand(), NOW) == ["a", "b"]
    assert sorted(place(nodes, 3, Demand(), NOW)) == ["a", "b", "c"]
    four = place(nodes, 4, Demand(), NOW)
    assert len(set(four)) == 3 and four.count("a") == 2


def test_lost_nodes_are_skipped() -> None:
    nodes = [node("silent", cpu=0, seen=11), node("alive", cpu=90, seen=2)]
    assert not is_alive(nodes[0], NOW) and is_alive(nodes[1], NOW)
    assert place(nodes, 1, Demand(), NOW) == ["alive"]
    with pytest.raises(NoNodeFits, match="no live node"):
        place([node("silent", seen=30)], 1, Demand(), NOW)


def test_free_capacity_must_fit() -> None:
    full = node("full", cpu=1, workloads=2, max_workloads=2)
    small = node("small", cpu=1, memory=90, memory_mb=1000)  # 100 MB free
    roomy = node("roomy", cpu=60)
    assert place([full, small, roomy], 1, Demand(memory_mb=512), NOW) == ["roomy"]
    with pytest.raises(NoNodeFits, match="only 0 of 1"):
        place([full, small], 1, Demand(memory_mb=512), NOW)


def test_placing_counts_the_replicas_already_chosen() -> None:
    one_slot = node("one-slot", cpu=1, max_workloads=1)
    assert place([one_slot, node("b", cpu=50)], 2, Demand(), NOW) == ["one-slot", "b"]
    with pytest.raises(NoNodeFits, match="only 1 of 2"):
        place([one_slot], 2, Demand(), NOW)


def test_excluded_nodes_and_zero_replicas() -> None:
    assert place([node("a", cpu=1), node("b", cpu=50)], 1, Demand(), NOW, exclude=["a"]) == ["b"]
    assert place([], 0, Demand(), NOW) == []


def test_replicas_already_running_count_towards_the_spread() -> None:
    nodes = [node("a", cpu=5), node("b", cpu=50)]
    assert place(nodes, 1, Demand(), NOW, occupied={"a": 1}) == ["b"]
    assert place(nodes, 1, Demand(), NOW, occupied={"a": 1, "b": 1}) == ["a"]


def test_a_replacement_prefers_the_node_of_the_replica_it_replaces() -> None:
    nodes = [node("a", cpu=60), node("b", cpu=5)]
    assert place(nodes, 1, Demand(), NOW, prefer=["a"]) == ["a"]  # its warm spare waits there
    assert place(nodes, 2, Demand(), NOW, prefer=["a"]) == ["a", "b"]  # the spread still comes first
    assert place(nodes, 1, Demand(), NOW, prefer=["a"], occupied={"a": 1}) == ["b"]
    full = [node("a", cpu=60, workloads=8), node("b", cpu=5)]
    assert place(full, 1, Demand(), NOW, prefer=["a"]) == ["b"]  # a preferred node must still fit
