"""User administration and token listing and revocation."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import select

from canopy.roles import Role
from canopy.store.models import ApiToken, User
from services.gateway import accounts
from services.gateway.access import allow, any_role, current_principal
from services.gateway.context import gateway_context
from services.gateway.views.helpers import json_body

blueprint = Blueprint("users", __name__, url_prefix="/api/v1")


def _user_view(user: User) -> dict[str, object]:
    """A user as the API shows it (never its password hash)."""
    return {
        "name": user.name,
        "role": user.role,
        "disabled": user.disabled,
        "created_at": user.created_at.isoformat(),
    }


@blueprint.get("/users")
@allow(Role.PLATFORM_ADMIN)
def list_users() -> Response:
    """Every user."""
    with gateway_context().backends.store.session() as session:
        users = session.scalars(select(User).order_by(User.name)).all()
        return jsonify({"users": [_user_view(user) for user in users]})


@blueprint.post("/users")
@allow(Role.PLATFORM_ADMIN)
def create_user() -> tuple[Response, int]:
    """Add a user with a role and an initial password."""
    body = json_body("name", "role", "password")
    role = accounts.user_role(str(body["role"]))
    with gateway_context().backends.store.session() as session:
        user = accounts.create_user(session, str(body["name"]), role, str(body["password"]))
        return jsonify(_user_view(user)), 201


@blueprint.put("/users/<name>")
@allow(Role.PLATFORM_ADMIN)
def change_user(name: str) -> Response:
    """Change a user's role: {"role": ...}; never the last platform_admin's (409)."""
    body = json_body("role")
    role = accounts.user_role(str(body["role"]))
    with gateway_context().backends.store.session() as session:
        return jsonify(_user_view(accounts.set_role(session, name, role)))


@blueprint.delete("/users/<name>")
@allow(Role.PLATFORM_ADMIN)
def delete_user(name: str) -> tuple[str, int]:
    """Remove a user and every token it holds; never oneself or the last platform_admin (409)."""
    with gateway_context().backends.store.session() as session:
        accounts.delete_user(session, name, current_principal())
    return "", 204


@blueprint.get("/tokens")
@allow(*any_role())
def list_tokens() -> Response:
    """The caller's tokens (never their secrets)."""
    principal = current_principal()
    with gateway_context().backends.store.session() as session:
        tokens = session.scalars(
            select(ApiToken).where(ApiToken.user_id == principal.user_id).order_by(ApiToken.created_at)
        ).all()
        return jsonify(
            {
                "tokens": [
                    {
                        "token_id": t.id,
                        "label": t.label,
                        "created_at": t.created_at.isoformat(),
                        "expires_at": t.expires_at.isoformat(),
                        "revoked": t.revoked_at is not None,
                        "current": t.id == principal.token_id,
                    }
                    for t in tokens
                ]
            }
        )


@blueprint.delete("/tokens/<token_id>")
@allow(*any_role())
def revoke_token(token_id: str) -> tuple[str, int]:
    """Revoke one of the caller's tokens (administrators: anyone's)."""
    with gateway_context().backends.store.session() as session:
        accounts.revoke_token(session, token_id, current_principal())
    return "", 204
