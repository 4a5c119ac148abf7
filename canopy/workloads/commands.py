"""Signed control messages: Ed25519 keys, signing, and the agent's pure command freshness check."""

from __future__ import annotations

import base64
import functools
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from canopy.contracts.base import SignedMessage
from canopy.contracts.deploy import NodeCommand, WorkloadSpec
from canopy.ed25519 import Ed25519PrivateKey, Ed25519PublicKey, InvalidSignature
from canopy.private import write_private_file

SEEN_LIMIT = 4096
COMMAND_TTL = timedelta(seconds=60)


def key_paths(home: Path) -> tuple[Path, Path]:
    """Where the control plane's private key and the agents' public key live under CANOPY_HOME."""
    return home / "keys" / "node-commands.key", home / "keys" / "node-commands.pub"


def load_or_create_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key at `path`, created with mode 0600 on first use."""
    if path.exists():
        try:
            return Ed25519PrivateKey.from_pem(path.read_bytes())
        except ValueError:
            raise ValueError(f"{path} is not an Ed25519 private key") from None
    key = Ed25519PrivateKey.generate()
    write_private_file(path, key.pem())
    return key


def public_pem(key: Ed25519PrivateKey) -> str:
    """The PEM text of a private key's public half."""
    return key.public_key().pem()


@functools.lru_cache(maxsize=256)  # every status report of a node is checked against the same key
def parse_public_pem(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM text; ValueError when it is anything else."""
    return Ed25519PublicKey.from_pem(text)


def load_or_create_signing_key(home: Path) -> Ed25519PrivateKey:
    """The control plane's private key, created (mode 0600) with its public key on first use."""
    private_path, public_path = key_paths(home)
    existed = private_path.exists()
    key = load_or_create_private_key(private_path)
    if not existed or not public_path.exists():
        write_private_file(public_path, public_pem(key).encode())
    return key


def load_verify_key(home: Path) -> Ed25519PublicKey | None:
    """The public key agents verify commands with, or None while the control plane has made none."""
    _, public_path = key_paths(home)
    if not public_path.exists():
        return None
    try:
        return parse_public_pem(public_path.read_text())
    except ValueError:
        raise ValueError(f"{public_path} is not an Ed25519 public key") from None


S = TypeVar("S", bound=SignedMessage)


def sign(message: S, key: Ed25519PrivateKey) -> S:
    """The message with its signature set."""
    signature = base64.b64encode(key.sign(message.signed_payload())).decode()
    return message.model_copy(update={"signature": signature})


def signature_valid(message: SignedMessage, key: Ed25519PublicKey | None) -> bool:
    """Whether the message carries a valid signature by `key`."""
    if key is None or not message.signature:
        return False
    try:
        key.verify(base64.b64decode(message.signature), message.signed_payload())
    except (InvalidSignature, ValueError):
        return False
    return True


def node_command(
    key: Ed25519PrivateKey,
    node_id: str,
    action: str,
    model_id: str,
    workload_id: str,
    generation: int,
    now: datetime,
    spec: WorkloadSpec | None = None,
    replacing: bool = False,
) -> NodeCommand:
    """A signed, expiring, generation-numbered command for one node."""
    command = NodeCommand(
        cmd_id=uuid.uuid4().hex,
        node_id=node_id,
        action=action,  # type: ignore[arg-type]
        model_id=model_id,
        workload_id=workload_id,
        generation=generation,
        issued_at=now,
        expires_at=now + COMMAND_TTL,
        spec=spec,
        replacing=replacing,
    )
    return sign(command, key)


@dataclass
class CommandLedger:
    """What an agent has trusted so far: the generation per model and the command ids seen."""

    generations: dict[str, int] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)

    def record(self, command: NodeCommand) -> None:
        """Remember an accepted command."""
        model_id = command.model_id
        self.generations[model_id] = max(self.generations.get(model_id, 0), command.generation)
        self.seen.append(command.cmd_id)
        del self.seen[:-SEEN_LIMIT]

    def save(self, path: Path) -> None:
        """Persist the ledger atomically, so a restarted agent cannot be rolled back."""
        write_private_file(path, json.dumps({"generations": self.generations, "seen": self.seen}).encode())

    @classmethod
    def load(cls, path: Path) -> CommandLedger:
        """Read a saved ledger, or start an empty one."""
        if not path.exists():
            return cls()
        data = json.loads(path.read_text())
        return cls(dict(data.get("generations", {})), list(data.get("seen", [])))


def refusal(
    command: NodeCommand, *, node_id: str, now: datetime, ledger: CommandLedger, signed: bool
) -> str | None:
    """Why an agent must refuse a command (foreign, unsigned, expired, replayed, stale), or None."""
    if command.node_id != node_id:
        return f"addressed to node {command.node_id}, not {node_id}"
    if not signed:
        return "signature missing or invalid"
    if now > command.expires_at:
        return f"expired at {command.expires_at.isoformat()}"
    if command.cmd_id in ledger.seen:
        return f"command {command.cmd_id} was already executed"
    current = ledger.generations.get(command.model_id, 0)
    if command.generation < current:
        return f"stale generation {command.generation} < {current}"
    return None
