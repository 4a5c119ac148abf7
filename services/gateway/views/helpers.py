"""Small helpers shared by views: reading a JSON body and the model reference URL converter."""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.routing import BaseConverter

from canopy.errors import BadRequest, ValidationFailed


def json_body(*required: str) -> dict[str, Any]:
    """The request's JSON object, with `required` string fields present and non-empty."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object body with Content-Type: application/json")
    missing = {name: "required" for name in required if not isinstance(body.get(name), str) or not body[name]}
    if missing:
        raise ValidationFailed(f"missing or empty fields: {', '.join(missing)}", details=missing)
    return body


class ModelRefConverter(BaseConverter):
    """A model in a URL: its id or name, or `owner/name` (the one slash a model reference may hold)."""

    regex = r"[^/]+(?:/[^/]+)?"
    part_isolating = False
