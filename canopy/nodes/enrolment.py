"""Node enrolment: a platform_admin adds a node and gets a one-time join token; the node joins with its key.

The node_keys table is written only by this module, which only the gateway (its REST views, and
in-process under `canopy up` for the local node) calls; the node manager and deployer only read it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from canopy.contracts.deploy import NodeStatus
from canopy.ed25519 import Ed25519PrivateKey
from canopy.errors import NotFound, Unauthorized, ValidationFailed
from canopy.nodes.tables import NodeKey
from canopy.nodes.trust import EnrolledNode, status_refusal
from canopy.private import make_private_dir
from canopy.workloads.commands import load_or_create_private_key, parse_public_pem, public_pem

NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
HOSTNAME = re.compile(
    r"^[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*$"
)
JOIN_TOKEN_TTL = timedelta(hours=24)
DEFAULT_ADDRESSES = ("127.0.0.1",)
MAX_ADDRESSES = 16
# Two columns of one row: every status report of every node is checked against it, twice.
_JOINED_KEY = select(NodeKey.public_key, NodeKey.addresses).where(NodeKey.node_id == bindparam("node_id"))


def check_node_id(node_id: str) -> str:
    """Return a valid node id, else raise ValidationFailed saying what one looks like."""
    if not NODE_ID.fullmatch(node_id):
        raise ValidationFailed(
            f"node id {node_id!r} is not valid; use 1-64 letters, digits, '.', '_' or '-'",
            details={"node_id": "invalid"},
        )
    return node_id


def check_addresses(addresses: list[str]) -> list[str]:
    """Return the addresses (IPs or host names) a node's workloads listen on, else raise ValidationFailed."""
    if not 1 <= len(addresses) <= MAX_ADDRESSES:
        raise ValidationFailed(f"give 1 to {MAX_ADDRESSES} addresses", details={"addresses": "invalid"})
    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            if not isinstance(address, str) or len(address) > 253 or not HOSTNAME.fullmatch(address):
                raise ValidationFailed(
                    f"address {address!r} is neither an IP address nor a host name",
                    details={"addresses": "invalid"},
                ) from None
    return list(addresses)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_node(session: Session, node_id: str, addresses: list[str], now: datetime) -> str:
    """Add a node (or re-issue its join token, to re-key it) and return the one-time token."""
    node = session.get(NodeKey, check_node_id(node_id))
    if node is None:
        node = NodeKey(node_id=node_id, created_at=now)
        session.add(node)
    token = f"cnj_{secrets.token_urlsafe(32)}"
    node.addresses = json.dumps(check_addresses(addresses))
    node.join_token_hash, node.token_expires_at = _digest(token), now + JOIN_TOKEN_TTL
    session.flush()
    return token


def join_node(session: Session, node_id: str, token: str, public_key: str, now: datetime) -> None:
    """Redeem a join token: record the node's public key; the token cannot be used again."""
    node = session.get(NodeKey, node_id)
    if (
        node is None
        or not node.join_token_hash
        or not hmac.compare_digest(node.join_token_hash, _digest(token))
        or now > node.token_expires_at
    ):
        raise Unauthorized(
            f"join token for node {node_id!r} is wrong, used or expired; "
            f"ask a platform_admin for a new one (`canopy node add {node_id}`)"
        )
    try:
        parse_public_pem(public_key)
    except ValueError as exc:
        raise ValidationFailed(
            "public_key is not a PEM Ed25519 public key", details={"public_key": "invalid"}
        ) from exc
    node.public_key, node.joined_at, node.join_token_hash = public_key, now, ""


def remove_node(session: Session, node_id: str) -> None:
    """Forget a node: its key no longer verifies anything."""
    node = session.get(NodeKey, node_id)
    if node is None:
        raise NotFound(f"no node {node_id!r}; `canopy node list` shows the nodes")
    session.delete(node)


def enrolled(db: Session | Connection, node_id: str) -> EnrolledNode | None:
    """The key and addresses of a node that joined, or None (read from the store at every call)."""
    row = db.execute(_JOINED_KEY, {"node_id": node_id}).first()
    if row is None or not row.public_key:
        return None
    return EnrolledNode(node_id, parse_public_pem(row.public_key), tuple(json.loads(row.addresses)))


def identity_dir(home: Path, node_id: str) -> Path:
    """Where a node agent keeps its private key and Kafka login (owner-only)."""
    return home / "agents" / node_id / "identity"


def node_key(home: Path, node_id: str) -> Ed25519PrivateKey:
    """The node's private key, created 0600 in its identity directory on first use."""
    directory = identity_dir(home, node_id)
    make_private_dir(directory)
    return load_or_create_private_key(directory / "node.key")


def enrol_here(session: Session, home: Path, node_id: str, now: datetime) -> Ed25519PrivateKey:
    """Add and join a node whose agent runs in this process (the local node of `canopy up`)."""
    key = node_key(home, node_id)
    current = enrolled(session, node_id)
    if current is not None and current.key.public_bytes_raw() == key.public_key().public_bytes_raw():
        return key
    join_node(
        session, node_id, add_node(session, node_id, list(DEFAULT_ADDRESSES), now), public_pem(key), now
    )
    return key


def status_refused(db: Session | Connection, status: NodeStatus) -> str | None:
    """Why a node's status report is not to be believed now (see status_refusal), or None."""
    return status_refusal(status, enrolled(db, status.node_id), datetime.now(UTC))
