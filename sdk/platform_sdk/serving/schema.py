"""Validates one input record against the model's typed fields, collecting a problem per field."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import math
from collections.abc import Callable, Mapping
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from platform_sdk.serving.spec import FieldSpec


class RequestError(Exception):
    """A request the server refuses; rendered as the Canopy error body with this status and code."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def to_payload(self) -> dict[str, Any]:
        """The JSON error body, the same shape as canopy.errors.CanopyError.to_payload."""
        body: dict[str, Any] = {"code": self.code, "message": self.message, "retryable": self.status >= 503}
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}

    def to_oip_payload(self) -> dict[str, str]:
        """The Open Inference Protocol's error body: one message, naming each bad field."""
        details = self.details if isinstance(self.details, dict) else {}
        problems = "; ".join(f"{name}: {problem}" for name, problem in details.items())
        prefix = "invalid input" if self.code == "validation_failed" else self.message
        return {"error": f"{prefix}: {problems}" if problems else self.message}


def validation_failed(details: dict[str, str]) -> RequestError:
    """A 400 naming every field that is wrong."""
    names = ", ".join(sorted(details))
    return RequestError(400, "validation_failed", f"invalid input: {names}; see details", details)


def _number(value: Any, kind: type) -> tuple[Any, str | None]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value, f"must be {'an integer' if kind is int else 'a number'}"
    if kind is int and isinstance(value, float):
        if not value.is_integer():
            return value, "must be an integer"
        value = int(value)
    if not math.isfinite(value):
        return value, "must be finite"
    return kind(value), None


def _image(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, bytes):
        return value, None
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True), None
        except (binascii.Error, ValueError):
            return value, "must be a base64-encoded image or a multipart file upload"
    return value, "must be a base64-encoded image or a multipart file upload"


def nested_shape(value: Any) -> tuple[int, ...] | None:
    """The shape of nested lists (() for a scalar), or None when they are ragged."""
    if not isinstance(value, list):
        return ()
    inner = [nested_shape(item) for item in value]
    if any(shape is None or shape != inner[0] for shape in inner):
        return None
    first = inner[0] if inner else ()
    return None if first is None else (len(value), *first)


def _array(value: Any, shape: list[int | None] | None) -> tuple[Any, str | None]:
    if not isinstance(value, list):
        return value, "must be an array"
    actual = nested_shape(value)
    if actual is None:
        return value, "must be a rectangular array"
    mismatch = [want for want, got in zip(shape or [], actual) if want is not None and want != got]
    if shape is not None and (len(actual) != len(shape) or mismatch):
        wanted = "x".join("?" if dim is None else str(dim) for dim in shape)
        return value, f"must have shape {wanted}, got {'x'.join(map(str, actual))}"
    return value, None


def _typed(value: Any, expected: type, label: str) -> tuple[Any, str | None]:
    return (value, None) if isinstance(value, expected) else (value, f"must be {label}")


CHECKS: dict[str, Callable[[Any, FieldSpec], tuple[Any, str | None]]] = {
    "int": lambda value, _: _number(value, int),
    "float": lambda value, _: _number(value, float),
    "bool": lambda value, _: _typed(value, bool, "true or false"),
    "string": lambda value, _: _typed(value, str, "a string"),
    "image": lambda value, _: _image(value),
    "array": lambda value, spec: _array(value, spec.shape),
    "object": lambda value, _: (value, None),
}


def check_field(spec: FieldSpec, value: Any) -> tuple[Any, str | None]:
    """The cleaned value and the problem with it, if any (type, then range)."""
    value, problem = CHECKS.get(spec.type, CHECKS["object"])(value, spec)
    if problem is None and spec.type in ("int", "float"):
        if spec.minimum is not None and value < spec.minimum:
            problem = f"must be >= {spec.minimum:g}"
        elif spec.maximum is not None and value > spec.maximum:
            problem = f"must be <= {spec.maximum:g}"
    return value, problem


def validate_record(fields: list[FieldSpec], record: Any, *, allow_extra: bool = False) -> dict[str, Any]:
    """Return the cleaned record, or raise a 400 listing every missing, unknown or invalid field."""
    if not isinstance(record, Mapping):
        raise validation_failed({"inputs": "must be a JSON object mapping field names to values"})
    clean: dict[str, Any] = dict(record) if allow_extra else {}
    problems: dict[str, str] = {}
    for spec in fields:
        if spec.name not in record:
            problems[spec.name] = f"is required ({spec.type})"
            continue
        clean[spec.name], problem = check_field(spec, record[spec.name])
        if problem:
            problems[spec.name] = problem
    if not allow_extra:
        known = {spec.name for spec in fields}
        problems.update({name: "is not an input of this model" for name in record if name not in known})
    if problems:
        raise validation_failed(problems)
    return clean


def coerce_form(fields: list[FieldSpec], form: Mapping[str, Any]) -> dict[str, Any]:
    """Turn multipart text values into JSON values for the fields that are not strings or files."""
    kinds = {spec.name: spec.type for spec in fields}
    record: dict[str, Any] = {}
    for name, value in form.items():
        if isinstance(value, str) and kinds.get(name) not in ("string", "image"):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        record[name] = value
    return record


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, str]]:
    """Map each form field to its text, or to its bytes when it is a file; and each file's name."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise RequestError(400, "bad_request", "the multipart body could not be parsed; check its boundary")
    form: dict[str, Any] = {}
    filenames: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            form[name] = data.decode(part.get_content_charset() or "utf-8", "replace")
        else:
            form[name] = data
            filenames[name] = filename
    return form, filenames
