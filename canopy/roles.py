"""The four user roles, and `workload`: the role of an app instance's credential, never of a user."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a caller may do on the platform; users have one of ALL_ROLES, app instances WORKLOAD."""

    AI_DEVELOPER = "ai_developer"
    APP_DEVELOPER = "app_developer"
    PLATFORM_ADMIN = "platform_admin"
    END_USER = "end_user"
    WORKLOAD = "workload"


ALL_ROLES: frozenset[Role] = frozenset(Role) - {Role.WORKLOAD}


def parse_role(raw: str) -> Role:
    """Turn text into a user Role or raise ValueError listing the accepted names (never `workload`)."""
    accepted = ", ".join(sorted(role.value for role in ALL_ROLES))
    if raw == Role.WORKLOAD.value:
        raise ValueError(
            f"role 'workload' belongs to app instances and is never a user's; accepted: {accepted}"
        )
    try:
        return Role(raw)
    except ValueError:
        raise ValueError(f"unknown role {raw!r}; accepted: {accepted}") from None
