"""Request body limits per route and a nesting limit on JSON, applied before authentication and parsing."""

from __future__ import annotations

import io
import re
from typing import Any, BinaryIO

from flask import request
from flask.json.provider import DefaultJSONProvider

from canopy.apps import repository as app_repository
from canopy.devices import packages
from canopy.errors import BadRequest, PayloadTooLarge
from canopy.models import repository
from services.gateway.portal.sessions import SESSION_COOKIE

KIB = 1024
MULTIPART_SLACK = 1024 * KIB
LOGIN_PATH = "/api/v1/auth/login"
PORTAL_LOGIN_PATH = "/portal/login"
LOGIN_BYTES = 4 * KIB
JSON_BYTES = 64 * KIB
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def upload_limits() -> dict[str, int]:
    """The body limit of every upload route, API and portal, by path."""
    model = repository.UPLOAD_LIMITS.max_total_bytes + MULTIPART_SLACK
    app = app_repository.UPLOAD_LIMITS.max_total_bytes + MULTIPART_SLACK
    device = packages.LIMITS.max_total_bytes + MULTIPART_SLACK
    return {
        "/api/v1/models": model,
        "/api/v1/apps": app,
        "/api/v1/devices/upload": device,
        "/api/v1/device-types/upload": device,
        "/portal/models/upload": model,
        "/portal/apps/upload": app,
        "/portal/devices/upload": device,
        "/portal/device-types/upload": device,
    }


def body_limit(method: str, path: str, authorization: str, cookie: str = "") -> int:
    """The largest body in bytes the route accepts: login 4 KiB, others 64 KiB, uploads their own.

    Uploads get their large limit only when credentials are presented (a bearer token, or the
    portal's session cookie), so an anonymous upload is refused from its headers; the credential
    itself is checked once the body is in.
    """
    if method != "POST":
        return JSON_BYTES
    path = path.rstrip("/")
    if path in (LOGIN_PATH, PORTAL_LOGIN_PATH):
        return LOGIN_BYTES
    scheme, _, token = authorization.partition(" ")
    signed_in = (scheme.lower() == "bearer" and bool(token.strip())) or f"{SESSION_COOKIE}=" in cookie
    if not signed_in:
        return JSON_BYTES
    return upload_limits().get(path, JSON_BYTES)


def too_large_message(limit: int) -> str:
    """What a client whose body is over `limit` is told."""
    return f"the request body is larger than this route accepts ({limit} bytes); send less"


class CappedInput(io.RawIOBase):
    """A request body of unannounced length (chunked) that raises PayloadTooLarge past `limit` bytes.

    Werkzeug's own cap stops reading at the limit and hands over a truncated body without a word, so
    the cap is enforced here, one byte further, and werkzeug's set above it.
    """

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        super().__init__()
        self._stream = stream
        self.limit = limit
        self.received = 0

    def readable(self) -> bool:
        """A request body is readable."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Read at most one byte past the limit, and refuse the body when that byte exists."""
        data = self._stream.read(min(len(buffer), self.limit + 1 - self.received))
        self.received += len(data)
        if self.received > self.limit:
            raise PayloadTooLarge(too_large_message(self.limit))
        buffer[: len(data)] = data
        return len(data)


def enforce_body_limit() -> None:
    """before_request hook, ahead of authentication: refuse bodies over the route's limit unread.

    A body announced by Content-Length is refused from the headers; a chunked one (which a server
    like gunicorn passes on) is refused as soon as more than the limit has been read.
    """
    headers = request.headers
    limit = body_limit(
        request.method, request.path, headers.get("Authorization", ""), headers.get("Cookie", "")
    )
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(too_large_message(limit))
    environ = request.environ
    if request.content_length is None and environ.get("wsgi.input_terminated"):
        environ["wsgi.input"] = CappedInput(environ["wsgi.input"], limit)
        limit += 1
    request.max_content_length = limit


def nesting_depth(text: bytes) -> int:
    """How deeply the arrays and objects of a JSON text nest (brackets inside strings do not count)."""
    depth = deepest = 0
    for bracket in _JSON_STRING.sub(b"", text).translate(None, _NOT_BRACKETS):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing texts nested deeper than MAX_JSON_DEPTH with a 400 instead of recursing.

    Keys keep their order (Flask sorts them by default): a device type's fields and a command's
    parameters are ordered, and the SDK's legacy calls map positional values onto that order.
    """

    sort_keys = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse JSON once its nesting is known to be within the limit."""
        text = s.encode() if isinstance(s, str) else s
        if nesting_depth(text) > MAX_JSON_DEPTH:
            raise BadRequest(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels; flatten it")
        return super().loads(s, **kwargs)
