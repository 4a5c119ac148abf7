"""A platform's topic prefix: parsing CANOPY_TOPIC_PREFIX, and names, patterns and grants on the cluster."""

from __future__ import annotations

import re

import pytest
from confluent_kafka.admin import AclPermissionType, ResourcePatternType  # type: ignore[attr-defined]

from bootstrap.commands.agent import platform_prefix
from canopy.bus.kafka_acl import device_grants, device_names, node_grants, platform_grants
from canopy.bus.kafka_admin import binding
from canopy.bus.naming import parse_prefix, prefixed, prefixed_subscription, unprefixed
from canopy.config import load_config
from canopy.contracts import topics
from canopy.errors import ConfigError


@pytest.mark.parametrize(
    ("raw", "used"),
    [("", ""), ("team-a", "team-a."), ("team-a.", "team-a."), ("eu.staging-2", "eu.staging-2.")],
)
def test_a_prefix_is_a_name_followed_by_one_dot(raw: str, used: str) -> None:
    assert parse_prefix(raw) == used


@pytest.mark.parametrize("raw", [".a", "a..b", "a b", "a_b", "a/b", "a..", "x" * 61])
def test_config_refuses_a_prefix_kafka_could_not_use_and_says_what_is_accepted(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"CANOPY_TOPIC_PREFIX": raw})
    assert "CANOPY_TOPIC_PREFIX" in caught.value.message
    assert "e.g. team-a" in caught.value.message


def test_the_default_keeps_todays_names() -> None:
    assert load_config({}).topic_prefix == ""
    assert prefixed("", topics.HEARTBEAT) == topics.HEARTBEAT
    assert prefixed_subscription("", topics.INGEST_PATTERN) == topics.INGEST_PATTERN


def test_names_round_trip_and_foreign_names_stay_whole() -> None:
    name = prefixed("team-a.", topics.DEVICE_TELEMETRY)
    assert name == "team-a.canopy.telemetry"
    assert unprefixed("team-a.", name) == topics.DEVICE_TELEMETRY
    assert unprefixed("team-a.", "canopy.telemetry") == "canopy.telemetry"
    assert unprefixed("", name) == name


def test_the_ingest_pattern_matches_only_this_platforms_device_topics() -> None:
    pattern = prefixed_subscription("team-a.", topics.INGEST_PATTERN)
    assert re.fullmatch(pattern, "team-a.canopy.ingest.fan-1")
    for other in ("canopy.ingest.fan-1", "team-b.canopy.ingest.fan-1", "team-aXcanopy.ingest.fan-1"):
        assert re.fullmatch(pattern, other) is None
    assert re.fullmatch(prefixed_subscription("p.", "^a|b"), "b") is None


def test_grants_and_logins_name_the_prefixed_topics_and_groups() -> None:
    names = device_names("team-a.", "fan-1")
    assert names == {
        "username": "team-a.device-fan-1",
        "ingest_topic": "team-a.canopy.ingest.fan-1",
        "command_topic": "team-a.canopy.commands.fan-1",
        "group": "team-a.device-fan-1",
    }
    assert {grant.name for grant in device_grants("fan-1", "team-a.")} == {
        names["ingest_topic"],
        names["command_topic"],
        names["group"],
    }
    assert all(grant.name.startswith("team-a.") for grant in node_grants("n1", "team-a."))


def test_every_grant_becomes_an_allow_binding_of_its_user() -> None:
    grants = [*platform_grants(), *node_grants("n1", "p."), *device_grants("fan-1", "p.")]
    bindings = [binding(grant, "device-fan-1") for grant in grants]
    assert [(b.restype.name, b.name, b.operation.name) for b in bindings] == [
        (g.resource, g.name, g.operation) for g in grants
    ]
    assert {(b.principal, b.host, b.permission_type, b.resource_pattern_type) for b in bindings} == {
        ("User:device-fan-1", "*", AclPermissionType.ALLOW, ResourcePatternType.LITERAL)
    }


def test_an_agent_takes_the_prefix_of_the_platform_it_joined_and_refuses_another() -> None:
    assert platform_prefix(load_config({}), "team-a.") == "team-a."
    assert platform_prefix(load_config({"CANOPY_TOPIC_PREFIX": "team-a"}), "team-a.") == "team-a."
    with pytest.raises(ConfigError) as caught:
        platform_prefix(load_config({"CANOPY_TOPIC_PREFIX": "team-b"}), "team-a.")
    assert "unset CANOPY_TOPIC_PREFIX" in caught.value.message
