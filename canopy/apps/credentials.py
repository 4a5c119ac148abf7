"""App-instance credentials: `cni_<instance id>_<secret>`, of which only the SHA-256 is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy.orm import Session, lazyload

from canopy.apps.records import AppInstance
from canopy.errors import NotFound, Unauthorized

INSTANCE_TOKEN_PREFIX = "cni"


def token_digest(secret: str) -> str:
    """The stored form of an instance secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def unusable_digest() -> str:
    """The digest of a secret nobody holds: an instance without a usable credential (before its start)."""
    return token_digest(secrets.token_urlsafe(32))


def is_instance_token(presented: str) -> bool:
    """Whether a bearer token has the shape of an instance credential (not whether it is valid)."""
    return presented.startswith(f"{INSTANCE_TOKEN_PREFIX}_")


def _instance(session: Session, instance_id: str) -> AppInstance:
    instance = session.get(AppInstance, instance_id)
    if instance is None:
        raise NotFound(f"no app instance {instance_id!r}")
    return instance


def issue_instance_token(session: Session, instance_id: str) -> str:
    """Mint the instance's credential (any earlier one stops working) and return it; only its hash is kept."""
    instance = _instance(session, instance_id)
    secret = secrets.token_urlsafe(32)
    instance.token_hash = token_digest(secret)
    session.flush()
    return f"{INSTANCE_TOKEN_PREFIX}_{instance_id}_{secret}"


def revoke_instance_token(session: Session, instance_id: str) -> None:
    """Make the instance's current credential stop working (e.g. when it stops)."""
    _instance(session, instance_id).token_hash = unusable_digest()
    session.flush()


def instance_for_token(session: Session, presented: str) -> AppInstance:
    """The instance whose current credential `presented` is; Unauthorized if unknown, old or revoked."""
    prefix, _, rest = presented.partition("_")
    instance_id, _, secret = rest.partition("_")
    well_formed = prefix == INSTANCE_TOKEN_PREFIX and bool(secret)
    # the app's record is not needed to authenticate: skip its join on this per-request path
    instance = (
        session.get(AppInstance, instance_id, options=[lazyload(AppInstance.app)]) if well_formed else None
    )
    if instance is None or not hmac.compare_digest(instance.token_hash, token_digest(secret)):
        raise Unauthorized(
            "invalid or outdated app-instance credential; it changes at every start of the instance"
        )
    return instance
