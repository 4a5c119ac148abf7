"""Node commands are signed; agents refuse foreign, forged, expired, replayed and stale ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from canopy.contracts import decode, encode
from canopy.contracts.deploy import NodeCommand
from canopy.workloads.commands import (
    CommandLedger,
    load_or_create_signing_key,
    load_verify_key,
    refusal,
    sign,
    signature_valid,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def command(**changes: object) -> NodeCommand:
    """A stop command for node-1, generation 3, valid for a minute from NOW."""
    fields: dict[str, object] = {
        "cmd_id": "c1",
        "node_id": "node-1",
        "action": "stop",
        "model_id": "m1",
        "workload_id": "w1",
        "generation": 3,
        "issued_at": NOW,
        "expires_at": NOW + timedelta(seconds=60),
    }
    fields.update(changes)
    return NodeCommand.model_validate(fields)


def check(cmd: NodeCommand, ledger: CommandLedger | None = None, *, now: datetime = NOW) -> str | None:
    """Refusal reason for node-1, treating the signature as valid."""
    return refusal(cmd, node_id="node-1", now=now, ledger=ledger or CommandLedger(), signed=True)


def test_a_fresh_command_for_this_node_is_accepted() -> None:
    assert check(command()) is None


def test_foreign_expired_and_unsigned_commands_are_refused() -> None:
    assert "node-2" in (check(command(node_id="node-2")) or "")
    assert "expired" in (check(command(), now=NOW + timedelta(seconds=61)) or "")
    reason = refusal(command(), node_id="node-1", now=NOW, ledger=CommandLedger(), signed=False)
    assert reason == "signature missing or invalid"


def test_replays_and_stale_generations_are_refused() -> None:
    ledger = CommandLedger()
    ledger.record(command())
    assert "already executed" in (check(command(), ledger) or "")
    assert "stale generation 2 < 3" in (check(command(cmd_id="c2", generation=2), ledger) or "")
    assert check(command(cmd_id="c3", generation=3), ledger) is None
    assert check(command(cmd_id="c4", generation=4, model_id="other"), ledger) is None


def test_the_ledger_survives_a_restart(tmp_path: Path) -> None:
    ledger = CommandLedger()
    ledger.record(command(generation=7))
    ledger.save(tmp_path / "ledger.json")
    again = CommandLedger.load(tmp_path / "ledger.json")
    assert "stale" in (check(command(cmd_id="new", generation=6), again) or "")


def test_signatures_cover_every_field(tmp_path: Path) -> None:
    key = load_or_create_signing_key(tmp_path)
    verify = load_verify_key(tmp_path)
    signed = sign(command(), key)
    assert signature_valid(signed, verify)
    roundtrip = decode(encode(signed)).message
    assert isinstance(roundtrip, NodeCommand) and signature_valid(roundtrip, verify)
    assert not signature_valid(signed.model_copy(update={"node_id": "node-2"}), verify)
    assert not signature_valid(signed.model_copy(update={"generation": 99}), verify)
    assert not signature_valid(command(), verify)
    reloaded = load_or_create_signing_key(tmp_path)
    assert signature_valid(sign(command(), reloaded), verify)
    assert (tmp_path / "keys" / "node-commands.key").stat().st_mode & 0o077 == 0
