"""Device simulators: sensors that send readings and controllers that keep state, over Kafka, MQTT or HTTP."""

from __future__ import annotations

from pathlib import Path

TYPES_DIR = Path(__file__).parent / "types"
