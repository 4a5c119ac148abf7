"""The try-it form of a model: one input per field of its input schema, sent on as a multipart body.

The model server reads the form itself (text values are parsed as JSON for non-string fields, files
are images) and names each wrong field, so the portal checks nothing and converts nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from urllib3 import encode_multipart_formdata
from werkzeug.datastructures import FileStorage

from canopy.models import FieldType, ModelManifest, SchemaField

# The HTML control of each schema type: (element, input type, step).
CONTROLS: dict[FieldType, tuple[str, str, str]] = {
    FieldType.INT: ("input", "number", "1"),
    FieldType.FLOAT: ("input", "number", "any"),
    FieldType.BOOL: ("select", "", ""),
    FieldType.STRING: ("input", "text", ""),
    FieldType.IMAGE: ("input", "file", ""),
    FieldType.ARRAY: ("textarea", "", ""),
    FieldType.OBJECT: ("textarea", "", ""),
}
MAX_FIELDS = 64


@dataclass(frozen=True)
class InputControl:
    """One control of the try-it form, generated from a schema field."""

    name: str
    type: str
    element: str
    input_type: str
    step: str
    minimum: float | None
    maximum: float | None
    hint: str

    @property
    def control_id(self) -> str:
        """The HTML id of the control (schema names may hold '.', which ids allow)."""
        return f"input-{self.name}"


def _hint(field: SchemaField) -> str:
    """What the field takes, in words."""
    parts = [field.description] if field.description else []
    if field.type is FieldType.ARRAY:
        shape = "x".join("?" if dim is None else str(dim) for dim in field.shape or [])
        parts.append(f"JSON array{f' of shape {shape}' if shape else ''}, e.g. [1, 2, 3]")
    elif field.type is FieldType.OBJECT:
        parts.append('JSON object, e.g. {"key": 1}')
    return "; ".join(parts)


def input_controls(manifest: ModelManifest) -> list[InputControl]:
    """The try-it form's controls, one per input field (the first MAX_FIELDS)."""
    controls = []
    for field in manifest.inputs[:MAX_FIELDS]:
        element, input_type, step = CONTROLS[field.type]
        controls.append(
            InputControl(
                field.name,
                field.type.value,
                element,
                input_type,
                step,
                field.minimum,
                field.maximum,
                _hint(field),
            )
        )
    return controls


def needs_multipart(controls: list[InputControl]) -> bool:
    """Whether the form has a file control (an image field)."""
    return any(control.input_type == "file" for control in controls)


def prediction_body(
    controls: list[InputControl], form: Mapping[str, str], files: Mapping[str, FileStorage]
) -> tuple[bytes, str]:
    """The multipart body (and its content type) of the filled-in fields; empty ones are left out."""
    fields: dict[str, Any] = {}
    for control in controls:
        upload = files.get(control.name)
        if control.input_type == "file" and upload is not None and upload.filename:
            fields[control.name] = (
                upload.filename,
                upload.read(),
                upload.mimetype or "application/octet-stream",
            )
        elif form.get(control.name, "") != "":
            fields[control.name] = form[control.name]
    return encode_multipart_formdata(fields)


def prediction_text(data: bytes) -> str:
    """The replica's answer, pretty-printed when it is JSON."""
    try:
        return json.dumps(json.loads(data), indent=2, ensure_ascii=False)
    except ValueError:
        return data.decode("utf-8", "replace")


def answer_problems(status: int, data: bytes, names: set[str]) -> tuple[dict[str, str], str]:
    """A refused call's problems by input name, and what is left for the whole form."""
    try:
        error = json.loads(data).get("error") or {}
    except (ValueError, AttributeError):
        return {}, f"the model answered HTTP {status}: {data[:500].decode('utf-8', 'replace')}"
    raw = error.get("details")
    details: dict[str, Any] = raw if isinstance(raw, dict) else {}
    by_field = {str(name): str(problem) for name, problem in details.items() if name in names}
    left = {name: problem for name, problem in details.items() if name not in names}
    message = str(error.get("message") or f"the model answered HTTP {status}")
    general = "; ".join(f"{name}: {problem}" for name, problem in left.items()) or message
    return by_field, general if left or not by_field else ""
