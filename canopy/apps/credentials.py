"""App-instance credentials: bearer tokens `cni_<instance id>_<secret>` of which only a digest is stored."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy.orm import Session

from canopy.apps.records import AppInstance
from canopy.errors import NotFound

TOKEN_PREFIX = "cni"


def token_digest(token: str) -> str:
    """The SHA-256 hex digest stored for a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_instance_token(session: Session, instance_id: str) -> str:
    """Mint a new credential for the instance, store its digest (the old one stops working), return it."""
    instance = session.get(AppInstance, instance_id)
    if instance is None:
        raise NotFound(f"no app instance {instance_id}")
    token = f"{TOKEN_PREFIX}_{instance_id}_{secrets.token_urlsafe(32)}"
    instance.token_hash = token_digest(token)
    session.flush()
    return token
