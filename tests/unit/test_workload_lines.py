"""Workload output becomes bounded, rate-limited log records carrying the workload's identity."""

from __future__ import annotations

from canopy.contracts.system import LogRecord
from canopy.logs.workload import LineSplitter, WorkloadOutput
from tests.manual_clock import ManualClock


def test_lines_are_split_across_chunks_and_cut_when_too_long() -> None:
    splitter = LineSplitter(max_line=8)
    assert splitter.feed(b"one\ntw") == [b"one"]
    assert splitter.feed(b"o\r\n\nthree-is-long\nfour") == [b"two", b"three-is", b"-long"]
    assert splitter.feed(b"-and-more-") == [b"four-and"]
    assert splitter.rest() == [b"-more-"]
    assert splitter.rest() == []


def test_a_model_replicas_lines_carry_the_model_and_node() -> None:
    sent: list[LogRecord] = []
    lines = WorkloadOutput(sent.append, "node-1", per_second=100).lines_of("model", "m1")
    lines.feed(b"loading\nready on :8000\npartial")
    lines.close()
    assert [(r.source, r.model_id, r.instance_id, r.node, r.message) for r in sent] == [
        ("model", "m1", "", "node-1", "loading"),
        ("model", "m1", "", "node-1", "ready on :8000"),
        ("model", "m1", "", "node-1", "partial"),
    ]


def test_an_app_instances_lines_carry_the_instance() -> None:
    sent: list[LogRecord] = []
    WorkloadOutput(sent.append, "n", per_second=10).lines_of("app", "inst1").feed(b"hello\n")
    assert [(r.source, r.model_id, r.instance_id) for r in sent] == [("app", "", "inst1")]


def test_lines_over_the_rate_are_dropped_and_counted_once_a_second() -> None:
    sent: list[LogRecord] = []
    clock = ManualClock()
    lines = WorkloadOutput(sent.append, "n", per_second=3, clock=clock).lines_of("model", "m1")
    lines.feed(b"".join(b"line %d\n" % n for n in range(10)))
    assert [r.message for r in sent] == ["line 0", "line 1", "line 2"]
    clock.now = 1.5
    lines.feed(b"later\n")
    assert [(r.level, r.message) for r in sent[3:]] == [
        ("WARNING", "7 lines dropped (over 3 lines/s)"),
        ("INFO", "later"),
    ]


def test_a_failing_bus_never_breaks_the_pump() -> None:
    def send(record: LogRecord) -> None:
        raise RuntimeError("bus down")

    lines = WorkloadOutput(send, "n", per_second=10).lines_of("model", "m1")
    lines.feed(b"one\ntwo\n")
    lines.close()
