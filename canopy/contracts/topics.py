"""Topic names: every topic the platform uses is declared here, as canopy.<group>."""

from __future__ import annotations

HEARTBEAT = "canopy.heartbeat"
DEADLETTER = "canopy.deadletter"
LOGS = "canopy.logs"
DEPLOY_REQUESTS = "canopy.deploy"
DEPLOY_EVENTS = "canopy.deployments"
NODE_STATUS = "canopy.nodes"
NODE_COMMANDS = "canopy.node-commands"
WORKLOAD_EVENTS = "canopy.workloads"
PLACEMENT = "canopy.placement"
DEVICE_TELEMETRY = "canopy.telemetry"
TELEMETRY_INGEST = "canopy.telemetry-ingest"
DEVICE_COMMANDS = "canopy.device-commands"
DEVICE_EVENTS = "canopy.devices"
