"""The platform's error hierarchy, defined in platform_sdk.errors (workloads carry it) and re-exported here.

The CLI, the services and the SDK raise and catch the very same classes; see platform_sdk.errors for the
tree of statuses and codes. Only helpers the platform alone needs are defined here.
"""

from __future__ import annotations

from platform_sdk.errors import (
    ArchiveTooLarge,
    BadArchive,
    BadRequest,
    CanopyError,
    ConfigError,
    Conflict,
    DecodeError,
    Forbidden,
    NoSuchDriver,
    NotFound,
    PayloadTooLarge,
    Timeout,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    Unprocessable,
    ValidationFailed,
    error_from_payload,
)

__all__ = [
    "ArchiveTooLarge",
    "BadArchive",
    "BadRequest",
    "CanopyError",
    "ConfigError",
    "Conflict",
    "DecodeError",
    "Forbidden",
    "NoSuchDriver",
    "NotFound",
    "PayloadTooLarge",
    "StoreUnavailable",
    "Timeout",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
    "Unprocessable",
    "ValidationFailed",
    "driver_not_found",
    "error_from_payload",
]


class StoreUnavailable(Unavailable):
    """The platform's database cannot be reached: work that needs it waits for it instead of failing."""

    code = "store_unavailable"


def driver_not_found(kind: str, scheme: str, known: list[str]) -> NoSuchDriver:
    """The 'No such bus driver 'kafak'. Did you mean 'kafka'?' error for any backend kind."""
    import difflib

    close = difflib.get_close_matches(scheme, known, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else f" Known drivers: {', '.join(sorted(known))}."
    return NoSuchDriver(f"No such {kind} driver '{scheme}'.{hint}")
