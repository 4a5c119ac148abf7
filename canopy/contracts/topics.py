"""Topic names: every topic the platform uses is declared here, as canopy.<group>."""

from __future__ import annotations

HEARTBEAT = "canopy.heartbeat"
DEADLETTER = "canopy.deadletter"
LOGS = "canopy.logs"
