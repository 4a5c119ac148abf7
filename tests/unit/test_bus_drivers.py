"""Choosing a bus driver by URL, and the URL options each driver accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from canopy.bus import open_bus
from canopy.bus._rules import MAX_VALUE_BYTES, check_topic, check_value
from canopy.bus._sqlite_schema import DEFAULT_SESSION_TIMEOUT
from canopy.bus._sqlite_schema import parse_url as parse_sqlite_url
from canopy.bus.kafka import parse_url as parse_kafka_url
from canopy.errors import BadRequest, ConfigError, NoSuchDriver, PayloadTooLarge


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("kafak://127.0.0.1:9092", "No such bus driver 'kafak'. Did you mean 'kafka'?"),
        ("sqllite:///tmp/bus.db", "No such bus driver 'sqllite'. Did you mean 'sqlite'?"),
        ("amqp://127.0.0.1", "No such bus driver 'amqp'. Known drivers: kafka, sqlite."),
    ],
)
def test_mistyped_scheme_suggests_the_driver_meant(url: str, message: str) -> None:
    with pytest.raises(NoSuchDriver) as caught:
        open_bus(url)
    assert str(caught.value) == message


def test_sqlite_url_path_is_absolute_with_three_or_four_slashes() -> None:
    assert parse_sqlite_url("sqlite:///var/lib/bus.db").path == Path("/var/lib/bus.db")
    assert parse_sqlite_url("sqlite:////var/lib/bus.db").path == Path("/var/lib/bus.db")


def test_sqlite_options_have_defaults_and_can_be_set() -> None:
    default = parse_sqlite_url("sqlite:///b.db")
    assert (default.session_timeout, default.retention_hours) == (DEFAULT_SESSION_TIMEOUT, 168)
    chosen = parse_sqlite_url("sqlite:///b.db?session_timeout=2.5&retention_hours=24")
    assert (chosen.session_timeout, chosen.retention_hours) == (2.5, 24)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://host/b.db",
        "sqlite:///",
        "sqlite:///b.db?timeout=2",
        "sqlite:///b.db?session_timeout=0",
        "sqlite:///b.db?retention_hours=-1",
        "sqlite:///b.db?session_timeout=soon",
    ],
)
def test_sqlite_url_mistakes_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_sqlite_url(url)


def test_kafka_url_lists_bootstrap_servers_and_session_timeout() -> None:
    assert parse_kafka_url("kafka://a:9092, b:9093") == ("a:9092,b:9093", 10.0)
    assert parse_kafka_url("kafka://127.0.0.1:9092?session_timeout=6") == ("127.0.0.1:9092", 6.0)


@pytest.mark.parametrize(
    "url",
    ["kafka://", "kafka://127.0.0.1", "kafka://h:9092?session_timeout=1", "kafka://h:9092?acks=1"],
)
def test_kafka_url_mistakes_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_kafka_url(url)


@pytest.mark.parametrize("name", ["", "a/b", "with space", ".", "..", "x" * 250])
def test_topic_names_kafka_would_refuse_are_refused_by_every_driver(name: str) -> None:
    with pytest.raises(BadRequest):
        check_topic(name)


def test_values_over_the_limit_are_refused() -> None:
    assert check_value("t", b"x" * MAX_VALUE_BYTES)
    with pytest.raises(PayloadTooLarge, match="blob store"):
        check_value("t", b"x" * (MAX_VALUE_BYTES + 1))
