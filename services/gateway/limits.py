"""Request body limits per route and a nesting limit on JSON, applied before authentication and parsing."""

from __future__ import annotations

import re
from typing import Any

from flask import request
from flask.json.provider import DefaultJSONProvider

from canopy.apps import repository as app_repository
from canopy.devices import packages
from canopy.errors import BadRequest, PayloadTooLarge
from canopy.models import repository

KIB = 1024
MULTIPART_SLACK = 1024 * KIB
LOGIN_PATH = "/api/v1/auth/login"
LOGIN_BYTES = 4 * KIB
JSON_BYTES = 64 * KIB
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def body_limit(method: str, path: str, authorization: str) -> int:
    """The largest body in bytes the route accepts: login 4 KiB, others 64 KiB, uploads their own.

    Uploads get their large limit only when a bearer token is presented, so an anonymous upload is
    refused from its headers; the token itself is checked once the body is in.
    """
    if method != "POST":
        return JSON_BYTES
    path = path.rstrip("/")
    if path == LOGIN_PATH:
        return LOGIN_BYTES
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return JSON_BYTES
    if path == "/api/v1/models":
        return repository.UPLOAD_LIMITS.max_total_bytes + MULTIPART_SLACK
    if path == "/api/v1/apps":
        return app_repository.UPLOAD_LIMITS.max_total_bytes + MULTIPART_SLACK
    if path in ("/api/v1/devices/upload", "/api/v1/device-types/upload"):
        return packages.LIMITS.max_total_bytes + MULTIPART_SLACK
    return JSON_BYTES


def too_large_message(limit: int) -> str:
    """What a client whose body is over `limit` is told."""
    return f"the request body is larger than this route accepts ({limit} bytes); send less"


def enforce_body_limit() -> None:
    """before_request hook, ahead of authentication: refuse bodies over the route's limit unread."""
    limit = body_limit(request.method, request.path, request.headers.get("Authorization", ""))
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(too_large_message(limit))
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
