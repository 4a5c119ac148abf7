"""Topic names: every topic the platform uses is declared here, as canopy.<group>[.<device id>]."""

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
NOTIFICATIONS = "canopy.notifications"
BOOKINGS = "canopy.bookings"
SCHEDULE = "canopy.schedule"

INGEST_PREFIX = "canopy.ingest."
DEVICE_COMMAND_PREFIX = "canopy.commands."
INGEST_PATTERN = "^canopy[.]ingest[.].+"


def ingest_topic(device_id: str) -> str:
    """The topic a kafka-transport device produces its readings and acknowledgements to."""
    return f"{INGEST_PREFIX}{device_id}"


def device_command_topic(device_id: str) -> str:
    """The topic a kafka-transport controller reads its commands from."""
    return f"{DEVICE_COMMAND_PREFIX}{device_id}"


def device_of_ingest_topic(topic: str) -> str | None:
    """The device id an ingest topic belongs to, or None for any other topic."""
    return topic[len(INGEST_PREFIX) :] or None if topic.startswith(INGEST_PREFIX) else None
