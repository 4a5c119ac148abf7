"""A platform that starts on a Kafka backlog of bad readings logs a few lines, while its counters count each.

The issue's symptom at small scale: `canopy up` consumed old telemetry and logged one INFO line per
refused reading (110,005 lines in 20 s).
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from bootstrap.infra.kafka.credentials import KafkaCredentials
from canopy.config import load_config
from canopy.contracts import encode, topics
from canopy.contracts.devices import TelemetrySubmission
from canopy.runtime.backends import open_backends
from services.device_manager.service import device_manager_components
from tests.conftest import kafka_environment

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]
READINGS = 2000
REFUSED = {"kind": "unknown_device", "device": "(unknown)", "source": "kafka"}


def refused() -> float:
    """The refusals of unknown devices counted so far in this process."""
    return REGISTRY.get_sample_value("canopy_telemetry_refused_total", REFUSED) or 0.0


def test_a_backlog_of_2000_refused_readings_is_a_handful_of_log_lines_and_counted_in_full(
    canopy_home: Path,
    kafka_url: str,
    kafka_logins: KafkaCredentials,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    kafka_environment(monkeypatch, kafka_url, kafka_logins)
    monkeypatch.setenv("CANOPY_TOPIC_PREFIX", f"t-flood-{uuid.uuid4().hex[:8]}")
    backends = open_backends(load_config())
    now = datetime.now(UTC)
    for n in range(READINGS):  # old readings of devices this platform never registered, on both routes
        device = f"gone-{n % 20}"
        message = TelemetrySubmission(device_id=device, reading={"t": n}, at=now, seq=n)
        topic = topics.TELEMETRY_INGEST if n % 2 else topics.ingest_topic(device)
        backends.bus.publish(topic, encode(message), key=device)
    backends.bus.flush()
    before = refused()
    caplog.set_level(logging.INFO)
    components = device_manager_components(backends)  # the default placement: a new platform's groups
    for component in components:
        component.start()
    try:
        deadline = time.monotonic() + 120
        while refused() - before < READINGS and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        for component in reversed(components):
            component.stop()
        backends.close()
    lines = [record.getMessage() for record in caplog.records if "reading of gone-" in record.getMessage()]
    assert refused() - before == READINGS
    assert 1 <= len(lines) <= 4, lines
