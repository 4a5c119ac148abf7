"""The heartbeat sender and the ops server on the embedded bus."""

from __future__ import annotations

import time

import requests

from canopy.bus import open_bus
from canopy.contracts import Heartbeat, decode, topics
from canopy.runtime.health import component_checks
from canopy.runtime.heartbeat import HeartbeatSender
from canopy.runtime.ops import OpsServer


def test_heartbeats_arrive_in_sequence(tmp_path: object) -> None:
    bus = open_bus(f"sqlite:///{tmp_path}/bus.db")
    sender = HeartbeatSender(bus, "deployer", interval=0.05)
    sender.start()
    time.sleep(0.4)
    sender.stop()
    consumer = bus.consumer("monitor", [topics.HEARTBEAT])
    beats = []
    deadline = time.monotonic() + 10
    while len(beats) < 3 and time.monotonic() < deadline:
        record = consumer.poll(0.2)
        if record is not None:
            beats.append(decode(record.value).message)
    consumer.close()
    bus.close()
    assert all(isinstance(beat, Heartbeat) and beat.service == "deployer" for beat in beats)
    assert [beat.seq for beat in beats if isinstance(beat, Heartbeat)] == [0, 1, 2]


def test_one_sender_beats_for_each_service_of_the_process_with_a_check_each(tmp_path: object) -> None:
    bus = open_bus(f"sqlite:///{tmp_path}/bus.db")
    sender = HeartbeatSender(bus, ["deployer", "notifier"], interval=0.05)
    assert set(component_checks([sender])) == {"heartbeat:deployer", "heartbeat:notifier"}
    sender.start()
    time.sleep(0.3)
    sender.stop()
    consumer = bus.consumer("monitor", [topics.HEARTBEAT])
    beats: dict[str, list[int]] = {"deployer": [], "notifier": []}
    deadline = time.monotonic() + 10
    while min(len(seqs) for seqs in beats.values()) < 3 and time.monotonic() < deadline:
        record = consumer.poll(0.2)
        if record is not None and isinstance(beat := decode(record.value).message, Heartbeat):
            beats[beat.service].append(beat.seq)
            assert beat.instance.startswith(f"{beat.service}@")
    consumer.close()
    bus.close()
    assert beats["deployer"][:3] == beats["notifier"][:3] == [0, 1, 2]
    stopped = {name: check() for name, check in component_checks([sender]).items()}
    assert stopped == {"heartbeat:deployer": "stopped", "heartbeat:notifier": "stopped"}


def test_ops_server_reports_health_and_metrics() -> None:
    state = {"status": "ok"}
    server = OpsServer("deployer", lambda: dict(state))
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert requests.get(f"{base}/health", timeout=5).json() == {"service": "deployer", "status": "ok"}
        state["status"] = "starting"
        assert requests.get(f"{base}/health", timeout=5).status_code == 503
        metrics = requests.get(f"{base}/metrics", timeout=5)
        assert metrics.status_code == 200 and "process_cpu_seconds_total" in metrics.text
        assert requests.get(f"{base}/nope", timeout=5).status_code == 404
    finally:
        server.stop()
