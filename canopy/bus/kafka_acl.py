"""Kafka principals and their ACLs: who may read and write which topics, and creating them idempotently."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from confluent_kafka.cimpl import NewTopic

from canopy.bus.base import Credentials
from canopy.bus.kafka import describe, parse_url, sasl_settings
from canopy.bus.naming import prefixed
from canopy.config import Config
from canopy.contracts import topics
from canopy.errors import Unavailable

log = logging.getLogger(__name__)

PLATFORM_USER = "canopy-platform"
ADMIN_USER = "canopy-admin"
SCRAM_ITERATIONS = 8192
ADMIN_TIMEOUT = 15.0
NODE_WRITES = (
    topics.NODE_STATUS,
    topics.WORKLOAD_EVENTS,
    topics.LOGS,
    topics.HEARTBEAT,
    topics.DEADLETTER,
)


@dataclass(frozen=True)
class Grant:
    """One ALLOW rule: an operation on a resource (literal or prefixed name) for a principal."""

    resource: ResourceType
    name: str
    operation: AclOperation
    pattern: ResourcePatternType = ResourcePatternType.LITERAL

    def binding(self, user: str) -> AclBinding:
        """The confluent-kafka ACL binding of this grant for `user`."""
        return AclBinding(
            self.resource,
            self.name,
            self.pattern,
            f"User:{user}",
            "*",
            self.operation,
            AclPermissionType.ALLOW,
        )


def node_user(node_id: str) -> str:
    """The Kafka principal of a node agent, without the platform's topic prefix."""
    return f"node-{node_id}"


def device_user(device_id: str) -> str:
    """The Kafka principal (and consumer group) of a kafka-transport device, without the topic prefix."""
    return f"device-{device_id}"


def platform_grants() -> list[Grant]:
    """Platform services read and write every topic, create topics and use any consumer group."""
    return [
        Grant(ResourceType.TOPIC, "*", AclOperation.ALL),
        Grant(ResourceType.GROUP, "*", AclOperation.ALL),
        Grant(ResourceType.BROKER, "kafka-cluster", AclOperation.CREATE),
        Grant(ResourceType.BROKER, "kafka-cluster", AclOperation.DESCRIBE),
        Grant(ResourceType.BROKER, "kafka-cluster", AclOperation.IDEMPOTENT_WRITE),
    ]


def node_grants(node_id: str, prefix: str = "") -> list[Grant]:
    """A node reads its commands in its own group and writes only status, events, logs and heartbeats."""
    grants = [
        Grant(ResourceType.TOPIC, prefixed(prefix, topics.NODE_COMMANDS), AclOperation.READ),
        Grant(ResourceType.GROUP, prefixed(prefix, f"node-agent-{node_id}"), AclOperation.READ),
    ]
    grants += [
        Grant(ResourceType.TOPIC, prefixed(prefix, topic), AclOperation.WRITE) for topic in NODE_WRITES
    ]
    return grants


def device_grants(device_id: str, prefix: str = "") -> list[Grant]:
    """A device writes only its own ingest topic and reads only its own command topic in its group."""
    names = device_names(prefix, device_id)
    return [
        Grant(ResourceType.TOPIC, names["ingest_topic"], AclOperation.WRITE),
        Grant(ResourceType.TOPIC, names["command_topic"], AclOperation.READ),
        Grant(ResourceType.GROUP, names["group"], AclOperation.READ),
    ]


class Provisioner:
    """Creates SCRAM users and their ACLs with the admin principal; every call is idempotent."""

    def __init__(self, url: str, username: str, password: str) -> None:
        servers, _ = parse_url(url)
        settings: dict[str, Any] = {"bootstrap.servers": servers, "logger": log}
        settings.update(sasl_settings(username, password))
        self.servers = servers
        self._admin = AdminClient(settings)

    def provision(self, user: str, password: str, grants: list[Grant]) -> None:
        """Set `user`'s SCRAM-SHA-512 password (creating the user) and add its ACLs."""
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
        self._wait(
            self._admin.alter_user_scram_credentials(
                [UserScramCredentialUpsertion(user, info, password.encode())]
            ),
            f"setting the password of {user}",
        )
        self._wait(
            self._admin.create_acls([grant.binding(user) for grant in grants]), f"adding ACLs for {user}"
        )

    def create_topics(self, names: list[str], partitions: int) -> None:
        """Create topics a principal without CREATE will use (existing ones are left as they are)."""
        new = [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in names]
        for name, future in self._admin.create_topics(new, operation_timeout=ADMIN_TIMEOUT).items():
            try:
                future.result(timeout=ADMIN_TIMEOUT)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise Unavailable(
                        f"Kafka at {self.servers}: creating {name} failed: {describe(exc)}"
                    ) from exc

    def remove(self, user: str) -> None:
        """Delete `user`'s SCRAM credential so it can no longer log in (its ACLs then grant nothing)."""
        futures = self._admin.alter_user_scram_credentials(
            [UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)]
        )
        try:
            self._wait(futures, f"removing {user}")
        except Unavailable as exc:
            if "RESOURCE_NOT_FOUND" not in exc.message and "not found" not in exc.message.lower():
                raise

    def _wait(self, futures: dict[Any, Any], what: str) -> None:
        """Wait for admin futures; raise Unavailable naming what failed."""
        for future in futures.values():
            try:
                future.result(timeout=ADMIN_TIMEOUT)
            except KafkaException as exc:
                raise Unavailable(f"Kafka at {self.servers}: {what} failed: {describe(exc)}") from exc
            except TimeoutError as exc:
                raise Unavailable(f"Kafka at {self.servers}: {what} timed out") from exc


def provisioner_for(config: Config) -> Provisioner | None:
    """The admin client that creates node and device principals, or None when the bus needs none."""
    if not config.bus_url.startswith("kafka://") or not config.kafka_admin_username:
        return None
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
        admin.remove(prefixed(config.topic_prefix, user))


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
