"""Kafka principals and their ACLs: who may read and write which topics (kafka_admin creates them)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from canopy.bus.base import Credentials
from canopy.bus.naming import prefixed
from canopy.config import Config
from canopy.contracts import topics

if TYPE_CHECKING:
    from canopy.bus.kafka_admin import Provisioner

PLATFORM_USER = "canopy-platform"
ADMIN_USER = "canopy-admin"
NODE_WRITES = (
    topics.NODE_STATUS,
    topics.WORKLOAD_EVENTS,
    topics.LOGS,
    topics.HEARTBEAT,
    topics.DEADLETTER,
)


Resource = Literal["TOPIC", "GROUP", "BROKER"]
Operation = Literal["ALL", "READ", "WRITE", "CREATE", "DESCRIBE", "IDEMPOTENT_WRITE"]


@dataclass(frozen=True)
class Grant:
    """One ALLOW rule: an operation on a resource (literal or prefixed name), named as in confluent-kafka."""

    resource: Resource
    name: str
    operation: Operation
    pattern: Literal["LITERAL", "PREFIXED"] = "LITERAL"


def node_user(node_id: str) -> str:
    """The Kafka principal of a node agent, without the platform's topic prefix."""
    return f"node-{node_id}"


def device_user(device_id: str) -> str:
    """The Kafka principal (and consumer group) of a kafka-transport device, without the topic prefix."""
    return f"device-{device_id}"


def platform_grants() -> list[Grant]:
    """Platform services read and write every topic, create topics and use any consumer group."""
    return [
        Grant("TOPIC", "*", "ALL"),
        Grant("GROUP", "*", "ALL"),
        Grant("BROKER", "kafka-cluster", "CREATE"),
        Grant("BROKER", "kafka-cluster", "DESCRIBE"),
        Grant("BROKER", "kafka-cluster", "IDEMPOTENT_WRITE"),
    ]


def node_grants(node_id: str, prefix: str = "") -> list[Grant]:
    """A node reads its commands in its own group and writes only status, events, logs and heartbeats."""
    grants = [
        Grant("TOPIC", prefixed(prefix, topics.NODE_COMMANDS), "READ"),
        Grant("GROUP", prefixed(prefix, f"node-agent-{node_id}"), "READ"),
    ]
    grants += [Grant("TOPIC", prefixed(prefix, topic), "WRITE") for topic in NODE_WRITES]
    return grants


def device_grants(device_id: str, prefix: str = "") -> list[Grant]:
    """A device writes only its own ingest topic and reads only its own command topic in its group."""
    names = device_names(prefix, device_id)
    return [
        Grant("TOPIC", names["ingest_topic"], "WRITE"),
        Grant("TOPIC", names["command_topic"], "READ"),
        Grant("GROUP", names["group"], "READ"),
    ]


def provisioner_for(config: Config) -> Provisioner | None:
    """The admin client that creates node and device principals, or None when the bus needs none."""
    if not config.bus_url.startswith("kafka://") or not config.kafka_admin_username:
        return None
    from canopy.bus.kafka_admin import Provisioner  # librdkafka: loaded only for a Kafka bus

    return Provisioner(config.bus_url, config.kafka_admin_username, config.kafka_admin_password)


def provision_node(config: Config, node_id: str) -> Credentials | None:
    """A fresh Kafka login for [prefix]node-<id> with its ACLs and topics, or None without principals."""
    admin = provisioner_for(config)
    if admin is None:
        return None
    prefix = config.topic_prefix
    login = Credentials(prefixed(prefix, node_user(node_id)), secrets.token_urlsafe(32))
    own = [topics.NODE_COMMANDS, *NODE_WRITES]
    admin.create_topics([prefixed(prefix, topic) for topic in own], config.bus_partitions)
    admin.provision(login.username, login.password, node_grants(node_id, prefix))
    return login


def unprovision(config: Config, user: str) -> None:
    """Stop a removed node's or device's Kafka login (`user` without the prefix; no-op without principals)."""
    admin = provisioner_for(config)
    if admin is not None:
        admin.revoke(prefixed(config.topic_prefix, user))


def provision_device(config: Config, device_id: str, transport: str, credential: str) -> None:
    """Let a kafka-transport device log in as [prefix]device-<id> with its credential (no-op otherwise)."""
    admin = provisioner_for(config)
    if admin is not None and transport == "kafka":
        names = device_names(config.topic_prefix, device_id)
        admin.create_topics([names["ingest_topic"], names["command_topic"]], config.bus_partitions)
        admin.provision(names["username"], credential, device_grants(device_id, config.topic_prefix))


def device_names(prefix: str, device_id: str) -> dict[str, str]:
    """What a kafka-transport device connects with: its login, the topics it writes and reads, its group."""
    return {
        "username": prefixed(prefix, device_user(device_id)),
        "ingest_topic": prefixed(prefix, topics.ingest_topic(device_id)),
        "command_topic": prefixed(prefix, topics.device_command_topic(device_id)),
        "group": prefixed(prefix, device_user(device_id)),
    }


def unprovision_device(config: Config, device_id: str) -> None:
    """Stop a removed device's Kafka login (no-op when the bus has no principals)."""
    unprovision(config, device_user(device_id))
