"""Kafka logins across a broker restart, on a private broker (the shared one is never bounced for this)."""

from __future__ import annotations

import itertools
import secrets
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from canopy.bus import Credentials
from canopy.bus.kafka import sasl_settings
from canopy.bus.kafka_acl import device_grants
from canopy.bus.kafka_admin import Provisioner
from tests.private_infra import private_kafka

pytestmark = pytest.mark.timeout(400)


def java_spread_hash(name: str) -> int:
    """The hash Java's HashMap files a String under: String.hashCode() with its high bits folded in."""
    code = 0
    for char in name:
        code = (31 * code + ord(char)) & 0xFFFFFFFF
    return code ^ (code >> 16)


def first_in_java_hash_order(prefix: str) -> str:
    """A name Java's HashMap iterates before any other in its table of up to 65,536 buckets (bucket 0)."""
    names = (f"{prefix}-{n}" for n in itertools.count())
    return next(name for name in names if java_spread_hash(name) & 0xFFFF == 0)


def logs_in(servers: str, login: Credentials) -> bool:
    """Whether `login` can read the cluster's metadata."""
    client = AdminClient({"bootstrap.servers": servers, **sasl_settings(login.username, login.password)})
    try:
        return bool(client.list_topics(timeout=5).brokers)
    except KafkaException:
        return False


@pytest.mark.usefixtures("kafka_url")  # its jars are fetched
def test_a_revoked_login_leaves_every_other_login_working_after_a_broker_restart(tmp_path: Path) -> None:
    """A broker that replays a deleted SCRAM credential first loses them all (Kafka 4.2 to 4.4).

    The revoked user is named so that it comes first in the broker's map of credential changes; with a
    deletion the restarted broker refused every login, the admin's included.
    """
    with private_kafka(tmp_path) as broker:
        logins = broker.logins
        admin = Provisioner(broker.url, logins.admin_user, logins.admin_password)
        platform = Credentials(logins.platform_user, logins.platform_password)
        revoked = Credentials(first_in_java_hash_order("device-removed"), secrets.token_urlsafe(24))
        admin.provision(revoked.username, revoked.password, device_grants("removed"))
        assert logs_in(broker.component.address, revoked)
        admin.revoke(revoked.username)
        broker.restart()  # as `canopy infra down kafka` and `up kafka` do; waits for the admin's login
        assert logs_in(broker.component.address, platform)
        assert not logs_in(broker.component.address, revoked)
