"""Password hashing with argon2id and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from canopy.errors import ValidationFailed

MIN_PASSWORD_LENGTH = 8
_HASHER = PasswordHasher()


def check_policy(password: str) -> None:
    """Refuse passwords that are too short or too long."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"password must have at least {MIN_PASSWORD_LENGTH} characters",
            details={"password": "too short"},
        )
    if len(password) > 1024:
        raise ValidationFailed("password must have at most 1024 characters", details={"password": "too long"})


def hash_password(password: str) -> str:
    """An argon2id hash of a password that satisfies the policy."""
    check_policy(password)
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches `password_hash`."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def dummy_verify() -> None:
    """Spend the time of one verification so unknown users cannot be told apart by timing."""
    verify_password(_DUMMY_HASH, "not-the-password")


_DUMMY_HASH = _HASHER.hash("canopy-dummy-password")
