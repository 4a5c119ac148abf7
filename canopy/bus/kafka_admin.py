"""Creating Kafka principals, their ACLs and topics with the admin login (confluent-kafka's admin client)."""

from __future__ import annotations

import logging
import secrets
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
    UserScramCredentialUpsertion,
)
from confluent_kafka.cimpl import NewTopic

from canopy.bus.kafka import describe, parse_url, sasl_settings
from canopy.bus.kafka_acl import Grant
from canopy.errors import Unavailable

log = logging.getLogger(__name__)

SCRAM_ITERATIONS = 8192
ADMIN_TIMEOUT = 15.0


def binding(grant: Grant, user: str) -> AclBinding:
    """The confluent-kafka ACL binding of a grant for `user`."""
    return AclBinding(
        ResourceType[grant.resource],
        grant.name,
        ResourcePatternType[grant.pattern],
        f"User:{user}",
        "*",
        AclOperation[grant.operation],
        AclPermissionType.ALLOW,
    )


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
        self._set_password(user, password.encode(), f"setting the password of {user}")
        self._wait(
            self._admin.create_acls([binding(grant, user) for grant in grants]), f"adding ACLs for {user}"
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

    def revoke(self, user: str) -> None:
        """Give `user` a random password nobody holds: it can no longer log in (its ACLs then grant nothing).

        Never a deletion: Kafka 4.2 to 4.4 can lose every SCRAM credential when a restarted broker rebuilds
        its metadata from a log that holds a deleted one (ScramDelta.apply drops the whole mechanism once
        a deletion empties it, and the credentials it puts afterwards go nowhere), and then nobody can log in.
        """
        self._set_password(user, secrets.token_bytes(32), f"revoking the login of {user}")

    def _set_password(self, user: str, password: bytes, what: str) -> None:
        """Upsert `user`'s SCRAM-SHA-512 credential."""
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
        upsert = UserScramCredentialUpsertion(user, info, password)
        self._wait(self._admin.alter_user_scram_credentials([upsert]), what)

    def _wait(self, futures: dict[Any, Any], what: str) -> None:
        """Wait for admin futures; raise Unavailable naming what failed."""
        for future in futures.values():
            try:
                future.result(timeout=ADMIN_TIMEOUT)
            except KafkaException as exc:
                raise Unavailable(f"Kafka at {self.servers}: {what} failed: {describe(exc)}") from exc
            except TimeoutError as exc:
                raise Unavailable(f"Kafka at {self.servers}: {what} timed out") from exc
