"""The pure trust rules for node messages: own signature, sane timestamps, own workloads and endpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from canopy.contracts.deploy import NodeStatus, WorkloadEvent
from canopy.ed25519 import Ed25519PrivateKey
from canopy.nodes.trust import EnrolledNode, SentCommand, endpoint_on, event_refusal, status_refusal
from canopy.workloads.commands import sign
from tests.node_reports import idle_status

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
NODE = EnrolledNode("n1", KEY.public_key(), ("127.0.0.1", "10.0.0.5"))
SENT = SentCommand("n1", "m1", 3)


def _status(at: datetime, node_id: str = "n1") -> NodeStatus:
    return idle_status(node_id, at)


def _event(endpoint: str = "http://127.0.0.1:8000", **changes: object) -> WorkloadEvent:
    fields: dict[str, object] = {
        "node_id": "n1",
        "workload_id": "w1",
        "model_id": "m1",
        "generation": 3,
        "state": "ready",
        "endpoint": endpoint,
    }
    fields.update(changes)
    return WorkloadEvent.model_validate(fields)


def test_a_fresh_status_signed_by_the_node_is_accepted() -> None:
    assert status_refusal(sign(_status(NOW), KEY), NODE, NOW) is None
    assert status_refusal(sign(_status(NOW + timedelta(seconds=5)), KEY), NODE, NOW) is None


@pytest.mark.parametrize(
    ("status", "node", "reason"),
    [
        (_status(NOW), NODE, "signature missing"),
        (sign(_status(NOW), Ed25519PrivateKey.generate()), NODE, "signature missing"),
        (sign(_status(NOW), KEY), None, "has not joined"),
        (sign(_status(NOW + timedelta(days=3650)), KEY), NODE, "in the future"),
        (sign(_status(NOW - timedelta(minutes=5)), KEY), NODE, "older than"),
    ],
)
def test_bad_statuses_are_refused(status: NodeStatus, node: EnrolledNode | None, reason: str) -> None:
    refusal = status_refusal(status, node, NOW)
    assert refusal is not None and reason in refusal


def test_a_tampered_status_fails_its_signature() -> None:
    signed = sign(_status(NOW), KEY)
    tampered = signed.model_copy(update={"cpu_percent": 0.0, "max_workloads": 256})
    assert "signature" in (status_refusal(tampered, NODE, NOW) or "")


def test_an_event_for_a_workload_the_node_was_told_to_run_is_accepted() -> None:
    assert event_refusal(sign(_event(), KEY), NODE, SENT) is None
    assert event_refusal(sign(_event("http://10.0.0.5:9000"), KEY), NODE, SENT) is None
    assert event_refusal(sign(_event("", state="failed"), KEY), NODE, SENT) is None


@pytest.mark.parametrize(
    ("event", "sent", "reason"),
    [
        (_event(), SENT, "signature missing"),
        (sign(_event(), Ed25519PrivateKey.generate()), SENT, "signature missing"),
        (sign(_event(), KEY), None, "was not asked"),
        (sign(_event(), KEY), SentCommand("n2", "m1", 3), "was not asked"),
        (sign(_event(generation=2), KEY), SENT, "was not asked"),
        (sign(_event(model_id="m2"), KEY), SENT, "was not asked"),
        (sign(_event("http://attacker.example:80"), KEY), SENT, "is not on node"),
        (sign(_event("http://127.0.0.1.attacker.example:80"), KEY), SENT, "is not on node"),
        (sign(_event("file:///etc/passwd"), KEY), SENT, "is not on node"),
        (sign(_event("http://127.0.0.1:99999999"), KEY), SENT, "is not on node"),
    ],
)
def test_bad_events_are_refused(event: WorkloadEvent, sent: SentCommand | None, reason: str) -> None:
    refusal = event_refusal(event, NODE, sent)
    assert refusal is not None and reason in refusal


def test_an_event_from_an_unknown_node_is_refused() -> None:
    assert "has not joined" in (event_refusal(sign(_event(), KEY), None, SENT) or "")


def test_endpoint_hosts_must_match_exactly() -> None:
    assert endpoint_on("https://10.0.0.5", ["10.0.0.5"])
    assert not endpoint_on("http://user@evil:1", ["127.0.0.1"])
    assert not endpoint_on("not a url", ["127.0.0.1"])
