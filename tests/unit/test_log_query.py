"""Log query filters are parsed strictly, and the logger sorts a batch into records and dead letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bootstrap.commands.logs import follow_logs
from canopy.bus import Record
from canopy.contracts import encode
from canopy.contracts.system import LogRecord
from canopy.errors import ValidationFailed
from canopy.logs.query import parse_query, parse_since
from services.logger.ingest import sort_batch

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_since_takes_spans_and_iso_times() -> None:
    assert parse_since("10m", NOW) == NOW - timedelta(minutes=10)
    assert parse_since("2h", NOW) == NOW - timedelta(hours=2)
    assert parse_since("90s", NOW) == NOW - timedelta(seconds=90)
    assert parse_since("1d", NOW) == NOW - timedelta(days=1)
    assert parse_since("2026-12-01T10:00:00", NOW) == datetime(2026, 12, 1, 10, tzinfo=UTC)
    with pytest.raises(ValidationFailed, match="since"):
        parse_since("yesterday", NOW)


def test_query_arguments() -> None:
    query = parse_query({"model": "m1", "level": "warning", "grep": "boom", "after": "5", "limit": "10"}, NOW)
    assert (query.model, query.level, query.grep, query.after, query.limit) == ("m1", 30, "boom", 5, 10)
    assert parse_query({}, NOW).limit == 200


@pytest.mark.parametrize(
    "args",
    [
        {"level": "LOUD"},
        {"limit": "0"},
        {"limit": "5000"},
        {"after": "-1"},
        {"after": "x"},
        {"since": "soon"},
    ],
)
def test_bad_arguments_are_refused_by_name(args: dict[str, str]) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_query(args, NOW)
    assert set(refused.value.details) == set(args)


def _record(value: bytes, offset: int = 0) -> Record:
    return Record("canopy.logs", 0, offset, None, value, int(NOW.timestamp() * 1000))


def test_a_batch_is_sorted_into_lines_and_dead_letters() -> None:
    line = LogRecord(at=NOW, level="ERROR", source="model", model_id="m1", message="boom")
    lines, letters = sort_batch([_record(encode(line)), _record(b"not json", 1)], "logger")
    assert [(row["model_id"], row["level"], row["message"]) for row in lines] == [("m1", 40, "boom")]
    assert [(row["source_topic"], row["offset"], row["group"]) for row in letters] == [
        ("canopy.logs", 1, "logger")
    ]
    assert "not json" in letters[0]["payload"] and letters[0]["reason"]


def test_follow_asks_for_lines_after_the_last_one_it_printed() -> None:
    asked: list[dict[str, object]] = []
    answers = [
        {"records": [_shown(1, "one"), _shown(2, "two")], "last_id": 2},
        {"records": [], "last_id": 2},
        {"records": [_shown(3, "three")], "last_id": 3},
    ]
    printed: list[str] = []

    def fetch(params: dict[str, object]) -> dict[str, object]:
        asked.append(params)
        if not answers:
            raise KeyboardInterrupt
        return answers.pop(0)

    with pytest.raises(KeyboardInterrupt):
        follow_logs(fetch, {"model": "m1"}, printed.append, follow=True, poll=0.001)  # type: ignore[arg-type]
    assert [line.split("] ")[1] for line in printed] == ["one", "two", "three"]
    assert [params.get("after") for params in asked] == [None, 2, 2, 3]
    assert printed[0].startswith("2026-12-01T12:00:00+00:00 INFO    [model m1@n1]")


def _shown(record_id: int, message: str) -> dict[str, object]:
    return {
        "id": record_id,
        "at": NOW.isoformat(),
        "level": "INFO",
        "source": "model",
        "service": "",
        "node": "n1",
        "model_id": "m1",
        "instance_id": "",
        "message": message,
    }
