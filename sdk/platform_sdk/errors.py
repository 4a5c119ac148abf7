"""The errors the platform and the SDK share: each has an HTTP status, a stable code and whether to retry.

Defined once here, stdlib only, so workloads carry them; canopy.errors re-exports them for the platform.

CanopyError
├── BadRequest (400)           the input is wrong; fix it and resend
│   ├── ValidationFailed (400) with per-field errors
│   ├── BadArchive (400)       an uploaded archive is malformed or unsafe
│   ├── Unprocessable (422)    well-formed, but cannot be done as asked (e.g. no device to bind)
│   └── PayloadTooLarge (413)
│       └── ArchiveTooLarge (413) an archive is over an entry-count, size or ratio limit
├── Unauthorized (401)         no or bad credentials
├── Forbidden (403)            the role may not do this
├── NotFound (404)
├── Conflict (409)             the state forbids it (duplicate name, ...)
├── ConfigError (500)          a setting is wrong; names the key and the accepted values
│   └── NoSuchDriver (500)     a URL scheme without a driver
├── DecodeError (400)          a message could not be decoded against its contract
├── TooManyRequests (429, retry) slow down, e.g. after repeated failed logins
├── Unavailable (503, retry)   a backend cannot be reached
└── Timeout (504, retry)       an operation did not finish in time
"""

from __future__ import annotations

from typing import Any, ClassVar


class CanopyError(Exception):
    """Base of every platform error."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_payload(self) -> dict[str, Any]:
        """The JSON body the gateway returns for this error."""
        body: dict[str, Any] = {"code": self.code, "message": self.message, "retryable": self.retryable}
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


class BadRequest(CanopyError):
    """The request is malformed or refers to something invalid."""

    status, code = 400, "bad_request"


class ValidationFailed(BadRequest):
    """The input failed validation; `details` maps fields to problems."""

    code = "validation_failed"


class BadArchive(BadRequest):
    """An uploaded archive is not a zip, is corrupt, or holds unsafe entries."""

    code = "bad_archive"


class Unprocessable(BadRequest):
    """The request is well-formed but cannot be carried out as asked, e.g. no device fits a role."""

    status, code = 422, "unprocessable"


class PayloadTooLarge(BadRequest):
    """The request body or an uploaded archive is over a limit."""

    status, code = 413, "payload_too_large"


class ArchiveTooLarge(PayloadTooLarge):
    """An archive has too many entries, too many bytes or too high a compression ratio."""

    code = "archive_too_large"


class Unauthorized(CanopyError):
    """Credentials are missing, wrong, expired or revoked."""

    status, code = 401, "unauthorized"


class Forbidden(CanopyError):
    """The caller's role may not use this route."""

    status, code = 403, "forbidden"


class NotFound(CanopyError):
    """The named object does not exist."""

    status, code = 404, "not_found"


class Conflict(CanopyError):
    """The object's current state forbids the request."""

    status, code = 409, "conflict"


class ConfigError(CanopyError):
    """A setting is missing or invalid."""

    code = "config"


class NoSuchDriver(ConfigError):
    """A backend URL names a scheme that has no driver."""

    code = "no_such_driver"


class DecodeError(CanopyError):
    """A message payload is unknown or does not match its contract."""

    status, code = 400, "decode_failed"


class TooManyRequests(CanopyError):
    """Too many attempts; wait and retry."""

    status, code, retryable = 429, "too_many_requests", True


class Unavailable(CanopyError):
    """A backend (bus, store, blob, broker) cannot be reached right now."""

    status, code, retryable = 503, "unavailable", True


class Timeout(CanopyError):
    """An operation did not complete within its time limit."""

    status, code, retryable = 504, "timeout", True


def _all_subclasses(cls: type[CanopyError]) -> list[type[CanopyError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_all_subclasses(sub))
    return found


def error_from_payload(status: int, payload: Any) -> CanopyError:
    """Rebuild the exception a server raised from its HTTP status and JSON body."""
    body = payload.get("error", {}) if isinstance(payload, dict) else {}
    code = body.get("code") if isinstance(body, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    by_code = {cls.code: cls for cls in _all_subclasses(CanopyError)}
    by_status = {cls.status: cls for cls in reversed(_all_subclasses(CanopyError))}
    cls = by_code.get(code or "") or by_status.get(status, CanopyError)
    return cls(message or f"HTTP {status}", details=body.get("details") if isinstance(body, dict) else None)
