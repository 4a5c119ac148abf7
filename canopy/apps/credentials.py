"""App-instance credentials: `cni_<instance id>_<secret>`, of which only the SHA-256 is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from canopy.apps.records import AppInstance
from canopy.errors import NotFound, Unauthorized
from canopy.store.models import User

INSTANCE_TOKEN_PREFIX = "cni"
_INSTANCES, _USERS = AppInstance.__table__.c, User.__table__.c

# one statement built once: the per-request lookup of a credential, its instance and owner
_CREDENTIAL = (
    select(
        _INSTANCES.token_hash,
        _INSTANCES.owner_id,
        _USERS.disabled,
        _INSTANCES.bindings,
        _INSTANCES.models,
    )
    .select_from(AppInstance.__table__.outerjoin(User.__table__, _INSTANCES.owner_id == _USERS.id))
    .where(_INSTANCES.id == bindparam("instance_id"))
)


@dataclass(frozen=True)
class InstanceCaller:
    """The instance a valid credential names: its bindings and declared models (JSON), and its owner."""

    instance_id: str
    owner_id: int | None
    owner_disabled: bool | None  # None when the owner was removed
    bindings: str
    models: str


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


def instance_for_token(session: Session, presented: str) -> InstanceCaller:
    """The instance whose current credential `presented` is; Unauthorized if unknown, old or revoked.

    Runs on every request of an app instance: one Core query reads the instance and its owner's
    state together, without loading ORM objects.
    """
    prefix, _, rest = presented.partition("_")
    instance_id, _, secret = rest.partition("_")
    well_formed = prefix == INSTANCE_TOKEN_PREFIX and bool(secret)
    row = session.execute(_CREDENTIAL, {"instance_id": instance_id}).one_or_none() if well_formed else None
    if row is None or not hmac.compare_digest(row.token_hash, token_digest(secret)):
        raise Unauthorized(
            "invalid or outdated app-instance credential; it changes at every start of the instance"
        )
    return InstanceCaller(instance_id, row.owner_id, row.disabled, row.bindings, row.models)
