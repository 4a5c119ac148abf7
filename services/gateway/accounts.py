"""Users and API tokens: create, authenticate, issue, resolve and revoke."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from canopy.apps import credentials
from canopy.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from canopy.roles import ALL_ROLES, Role, parse_role
from canopy.store import conflict_on_duplicate
from canopy.store.models import ApiToken, PlatformMarker, User
from services.gateway.passwords import dummy_verify, hash_password, verify_password

TOKEN_PREFIX = "cnp"
LAST_USED_RESOLUTION = timedelta(minutes=1)
USER_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")
ADMIN_BOOTSTRAPPED = "admin_bootstrapped"
_TOKENS, _USERS = ApiToken.__table__.c, User.__table__.c
# one statement built once: the per-request lookup of an API token with its user
_TOKEN = (
    select(
        _TOKENS.token_hash,
        _TOKENS.expires_at,
        _TOKENS.revoked_at,
        _TOKENS.last_used_at,
        _USERS.id.label("user_id"),  # None when the user was removed (outer join)
        _USERS.name.label("user_name"),
        _USERS.role,
        _USERS.disabled,
    )
    .select_from(ApiToken.__table__.outerjoin(User.__table__, _TOKENS.user_id == _USERS.id))
    .where(_TOKENS.id == bindparam("token_id"))
)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request: a user, or an app instance (role workload).

    A workload acts for the instance's owner (`user_id`) and carries what the instance is bound to:
    `devices` maps each bound device id to its kind, `models` holds the declared model ids.
    """

    user_id: int
    name: str
    role: Role
    token_id: str
    instance_id: str | None = None
    devices: Mapping[str, str] = field(default_factory=dict)
    models: frozenset[str] = frozenset()


@dataclass(frozen=True)
class IssuedToken:
    """A new token; `secret` is shown once and never stored."""

    token_id: str
    secret: str
    expires_at: datetime


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_user_name(name: str) -> None:
    """Refuse names that are empty, too long or use characters outside [a-z0-9-_.]."""
    if not 1 <= len(name) <= 64 or not set(name) <= USER_NAME_CHARS:
        raise ValidationFailed(
            "user name must be 1-64 characters of a-z, 0-9, '-', '_' or '.'", details={"name": "invalid"}
        )


def user_role(raw: str) -> Role:
    """The user role `raw` names, or ValidationFailed (on the role field) listing the accepted names."""
    try:
        return parse_role(raw)
    except ValueError as exc:
        raise ValidationFailed(str(exc), details={"role": "unknown"}) from exc


def _user_named(session: Session, name: str) -> User | None:
    """The user called `name`, if any."""
    user: User | None = session.scalar(select(User).where(User.name == name))
    return user


def create_user(session: Session, name: str, role: Role, password: str) -> User:
    """Add a user; Conflict if the name is taken, ValidationFailed for a role users cannot have."""
    check_user_name(name)
    if role not in ALL_ROLES:
        raise ValidationFailed(f"users cannot have the role {role.value!r}", details={"role": "invalid"})
    if _user_named(session, name) is not None:
        raise Conflict(f"user {name!r} already exists")
    user = User(name=name, role=role.value, password_hash=hash_password(password))
    session.add(user)
    with conflict_on_duplicate(f"user {name!r} already exists"):
        session.flush()
    return user


def find_user(session: Session, name: str) -> User:
    """The user called `name`, or NotFound."""
    user = _user_named(session, name)
    if user is None:
        raise NotFound(f"no user called {name!r}")
    return user


def authenticate(session: Session, name: str, password: str) -> User:
    """The user whose password matches, or Unauthorized with no hint of which part was wrong."""
    user = _user_named(session, name)
    if user is None:
        dummy_verify()
    elif not user.disabled and verify_password(user.password_hash, password):
        return user
    raise Unauthorized("wrong user name or password")


def issue_token(session: Session, user: User, ttl: timedelta, label: str = "") -> IssuedToken:
    """Create a token for `user` valid for `ttl`."""
    token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + ttl
    session.add(
        ApiToken(
            id=token_id, user_id=user.id, token_hash=_digest(secret), label=label[:100], expires_at=expires_at
        )
    )
    session.flush()
    return IssuedToken(token_id, f"{TOKEN_PREFIX}_{token_id}_{secret}", expires_at)


def resolve_token(session: Session, presented: str) -> Principal:
    """The principal a bearer token stands for; Unauthorized if unknown, expired, revoked or disabled.

    Runs on every API request: one Core query reads the token with its user (no ORM objects), and
    the token's last use is written at most once a LAST_USED_RESOLUTION.
    """
    if credentials.is_instance_token(presented):
        return _workload_principal(session, presented)
    prefix, _, rest = presented.partition("_")
    token_id, _, secret = rest.partition("_")
    token = (
        session.execute(_TOKEN, {"token_id": token_id}).one_or_none()
        if prefix == TOKEN_PREFIX and secret
        else None
    )
    if token is None or not hmac.compare_digest(token.token_hash, _digest(secret)):
        raise Unauthorized("invalid API token; log in again with `canopy login`")
    now = datetime.now(UTC)
    if token.revoked_at is not None or token.expires_at <= now:
        raise Unauthorized("API token expired or revoked; log in again with `canopy login`")
    if token.user_id is None or token.disabled:
        raise Unauthorized("the token's user is disabled")
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        touched = update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)
        session.execute(touched.execution_options(synchronize_session=False))
    return Principal(token.user_id, token.user_name, Role(token.role), token_id)


def _workload_principal(session: Session, presented: str) -> Principal:
    """An app instance's credential as a workload principal acting for the instance's (enabled) owner."""
    instance = credentials.instance_for_token(session, presented)
    if instance.owner_id is None or instance.owner_disabled is not False:
        raise Unauthorized(f"the user app instance {instance.instance_id} runs for is disabled or removed")
    kinds = {binding["device"]: binding["kind"] for binding in json.loads(instance.bindings).values()}
    return Principal(
        user_id=instance.owner_id,
        name=f"instance-{instance.instance_id}",
        role=Role.WORKLOAD,
        token_id=instance.instance_id,
        instance_id=instance.instance_id,
        devices=kinds,
        models=frozenset(json.loads(instance.models).values()),
    )


def revoke_token(session: Session, token_id: str, principal: Principal) -> None:
    """Revoke a token; users revoke their own, administrators any."""
    token = session.get(ApiToken, token_id)
    if token is None or (token.user_id != principal.user_id and principal.role != Role.PLATFORM_ADMIN):
        raise NotFound(f"no token {token_id!r}")
    token.revoked_at = token.revoked_at or datetime.now(UTC)


def ensure_admin(session: Session, password: str | None) -> str | None:
    """Create `admin` on the platform's very first start only; return the password if it was generated.

    A marker records that the first administrator was made, so an `admin` deliberately removed
    later stays removed across restarts.
    """
    if session.get(PlatformMarker, ADMIN_BOOTSTRAPPED) is not None:
        return None
    session.add(PlatformMarker(name=ADMIN_BOOTSTRAPPED))
    if _user_named(session, "admin") is not None:
        return None
    generated = None if password else secrets.token_urlsafe(16)
    create_user(session, "admin", Role.PLATFORM_ADMIN, password or generated or "")
    return generated


def delete_user(session: Session, name: str, principal: Principal) -> None:
    """Remove a user and its tokens; Conflict for oneself or the last enabled platform_admin."""
    if name == principal.name:
        raise Conflict("you cannot delete the user you are signed in as")
    user = _keeping_an_admin(session, name, "removing it")
    session.delete(user)


def set_role(session: Session, name: str, role: Role) -> User:
    """Give a user another role; Conflict when that would leave no enabled platform_admin."""
    if role not in ALL_ROLES:
        raise ValidationFailed(f"users cannot have the role {role.value!r}", details={"role": "invalid"})
    user = (
        find_user(session, name)
        if role is Role.PLATFORM_ADMIN
        else _keeping_an_admin(session, name, "giving it another role")
    )
    user.role = role.value
    return user


def _keeping_an_admin(session: Session, name: str, action: str) -> User:
    """The user `name`, unless it is the last enabled platform_admin (Conflict naming `action`)."""
    # Lock every enabled administrator (in id order, on PostgreSQL) so two admins removing or
    # demoting each other at once cannot both succeed.
    admins = session.scalars(
        select(User.id)
        .where(User.role == Role.PLATFORM_ADMIN.value, User.disabled.is_(False))
        .order_by(User.id)
        .with_for_update()
    ).all()
    user = find_user(session, name)
    if user.id in admins and len(admins) == 1:
        raise Conflict(f"{name!r} is the last platform_admin; add another platform_admin before {action}")
    return user


def change_password(session: Session, principal: Principal, current: str, new: str) -> None:
    """Set a user's own new password after checking the current one; their other tokens are revoked."""
    user = find_user(session, principal.name)
    if not verify_password(user.password_hash, current):
        raise ValidationFailed(
            "the current password is wrong", details={"current": "the current password is wrong"}
        )
    try:
        user.password_hash = hash_password(new)
    except ValidationFailed as weak:
        raise ValidationFailed(weak.message, details={"new": weak.message}) from None
    others = select(ApiToken).where(
        ApiToken.user_id == user.id, ApiToken.id != principal.token_id, ApiToken.revoked_at.is_(None)
    )
    for token in session.scalars(others):
        token.revoked_at = datetime.now(UTC)
