"""The four platform roles."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a user may do on the platform."""

    AI_DEVELOPER = "ai_developer"
    APP_DEVELOPER = "app_developer"
    PLATFORM_ADMIN = "platform_admin"
    END_USER = "end_user"


ALL_ROLES: frozenset[Role] = frozenset(Role)


def parse_role(raw: str) -> Role:
    """Turn text into a Role or raise ValueError listing the accepted names."""
    try:
        return Role(raw)
    except ValueError:
        raise ValueError(f"unknown role {raw!r}; accepted: {', '.join(r.value for r in Role)}") from None
