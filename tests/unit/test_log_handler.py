"""The bus log handler: never blocks, drops on overflow with a count, never ships its own lines, scrubs."""

from __future__ import annotations

import logging
import threading
import time

from canopy.contracts import decode
from canopy.contracts.system import LogRecord
from canopy.logs.handler import BusLogHandler, LogShipping, level_name, service_of


def line(handler: BusLogHandler, name: str, message: str, *args: object, level: int = logging.INFO) -> None:
    """Pass one record through the handler the way a logger does (filters, then emit)."""
    handler.handle(logging.LogRecord(name, level, __file__, 1, message, args, None))


def test_records_are_shipped_with_their_fields() -> None:
    sent: list[LogRecord] = []
    handler = BusLogHandler(sent.append, "canopy", "node-1")
    line(handler, "services.deployer.flow", "deployed %s", "m1", level=logging.WARNING)
    line(handler, "canopy.placement", "placed")
    handler.close()
    assert [(r.service, r.level, r.logger, r.message) for r in sent] == [
        ("deployer", "WARNING", "services.deployer.flow", "deployed m1"),
        ("canopy", "INFO", "canopy.placement", "placed"),
    ]
    assert {(r.source, r.node) for r in sent} == {("service", "node-1")}


def test_a_blocked_bus_never_blocks_the_caller_and_overflow_is_counted() -> None:
    release = threading.Event()
    handler = BusLogHandler(lambda record: release.wait(), "canopy", "n", capacity=10)
    started = time.monotonic()
    for index in range(1000):
        line(handler, "canopy.x", "line %d", index)
    elapsed = time.monotonic() - started
    release.set()
    handler.close()
    assert elapsed < 2.0
    assert 1000 - 11 <= handler.dropped <= 1000 - 10


def test_lines_logged_while_publishing_and_bus_client_lines_are_not_shipped() -> None:
    sent: list[LogRecord] = []
    logger = logging.getLogger("canopy.test.recursion")

    def send(record: LogRecord) -> None:
        logger.warning("publishing %s", record.message)  # what a bus client might log while sending
        sent.append(record)

    handler = BusLogHandler(send, "canopy", "n")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("first")
        line(handler, "canopy.bus.kafka", "broker down")
        line(handler, "confluent_kafka", "rdkafka says")
        handler.close()
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert [r.message for r in sent] == ["first"]


def test_credentials_are_scrubbed_before_shipping_and_long_lines_are_cut() -> None:
    sent: list[LogRecord] = []
    handler = BusLogHandler(sent.append, "canopy", "n")
    line(handler, "canopy.x", "joined with %s at kafka://user:pw@host", "cnd_SECRETSECRET")
    line(handler, "canopy.x", "x" * 100_000)
    handler.close()
    assert "cnd_SECRET" not in sent[0].message and "pw@" not in sent[0].message
    assert len(sent[1].message) == 8192


def test_a_failing_bus_drops_the_line_and_keeps_going() -> None:
    calls: list[str] = []

    def send(record: LogRecord) -> None:
        calls.append(record.message)
        if record.message == "one":
            raise RuntimeError("bus down")

    handler = BusLogHandler(send, "canopy", "n")
    line(handler, "canopy.x", "one")
    line(handler, "canopy.x", "two")
    handler.close()
    assert calls == ["one", "two"] and handler.dropped == 1


def test_level_and_service_names() -> None:
    assert [level_name(n) for n in (5, 10, 20, 25, 30, 40, 50, 60)] == [
        "DEBUG",
        "DEBUG",
        "INFO",
        "INFO",
        "WARNING",
        "ERROR",
        "CRITICAL",
        "CRITICAL",
    ]
    assert service_of("services.gateway.views.models", "canopy") == "gateway"
    assert service_of("canopy.bus", "scheduler") == "scheduler"
    assert service_of("services", "x") == "x"


class FakeBus:
    """Keeps what is published."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, str | None]] = []

    def publish(self, topic: str, value: bytes, key: str | None = None) -> None:
        self.published.append((topic, value, key))


def test_a_node_agents_lines_are_node_lines_of_its_node() -> None:
    bus = FakeBus()
    shipping = LogShipping(bus, "node_agent:edge-3")  # type: ignore[arg-type]
    shipping.start()
    try:
        logging.getLogger("canopy.workloads.process_runtime").warning("workload w1 started")
    finally:
        shipping.stop()
    sent = [decode(value).message for topic, value, _ in bus.published if topic == "canopy.logs"]
    assert [(r.source, r.node, r.service, r.message) for r in sent] == [  # type: ignore[attr-defined]
        ("node", "edge-3", "node_agent", "workload w1 started")
    ]
