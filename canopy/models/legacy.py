"""The original platform's model format (`config.json`), read unchanged and normalised to a ModelManifest."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from canopy.errors import ValidationFailed
from canopy.models.manifest import FieldType, LegacyConvention, SchemaField, parse_fields

LEGACY_MANIFEST_FILE = "config.json"
LEGACY_VERSION = "1.0.0"
IMAGE_FIELD = "image"  # the multipart field legacy clients send images in
IMAGE_KINDS = frozenset({"jpg", "jpeg", "png", "bmp"})

# The type words legacy packages write in input_params/output_params, mapped to schema types.
LEGACY_TYPES: dict[str, FieldType] = {
    **{word: FieldType.INT for word in ("int", "integer", "long")},
    **{word: FieldType.FLOAT for word in ("float", "double", "number", "decimal")},
    **{word: FieldType.BOOL for word in ("bool", "boolean")},
    **{word: FieldType.STRING for word in ("str", "string", "text")},
    **{word: FieldType.ARRAY for word in ("list", "array")},
    **{word: FieldType.OBJECT for word in ("dict", "object", "json")},
    **{word: FieldType.IMAGE for word in (*IMAGE_KINDS, "image")},
}


class LegacyStage(BaseModel):
    """One of preprocessing, prediction and postprocessing: a file, a method and its parameters."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    method_name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    input_params: list[dict[str, str]]
    output_params: list[dict[str, str]]


class LegacyPrediction(LegacyStage):
    """The prediction stage, which also says how the model file was saved."""

    model_type: Literal["pkl", "h5"]


class LegacyConfig(BaseModel):
    """config.json of the original platform, with every key its validator required."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    description: str
    readme: str = Field(min_length=1)
    preprocessing: LegacyStage
    prediction: LegacyPrediction
    postprocessing: LegacyStage
    dependency: str = Field(min_length=1)
    version: str = LEGACY_VERSION


def slugify(title: str) -> str:
    """A manifest name from a legacy display name: 'Weather Detection' -> 'weather-detection'."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:64]


def _fields(params: list[dict[str, str]], where: str) -> list[SchemaField]:
    """Schema fields from legacy parameter dicts, refusing type words with no schema type."""
    fields = []
    for position, group in enumerate(params):
        for name, word in group.items():
            field_type = LEGACY_TYPES.get(str(word).strip().lower())
            if field_type is None:
                raise ValidationFailed(
                    f"{where}[{position}].{name}: unknown type {word!r}",
                    details={f"{where}[{position}].{name}": f"use one of {', '.join(sorted(LEGACY_TYPES))}"},
                )
            fields.append(SchemaField(name=name, type=field_type))
    return fields


def _image_param(params: list[dict[str, str]]) -> str | None:
    """The image parameter when the first value of the first parameter dict is an image kind."""
    first = next(iter(params[0].items()), None) if params else None
    if first is not None and str(first[1]).strip().lower() in IMAGE_KINDS:
        return f"{first[0]} ({first[1]})"
    return None


def legacy_manifest_data(raw: Any) -> dict[str, Any]:
    """The ModelManifest fields for a parsed legacy config.json; ValidationFailed names missing keys."""
    config = parse_fields(LegacyConfig, raw, LEGACY_MANIFEST_FILE)
    image_param = _image_param(config.preprocessing.input_params)
    inputs = (
        [SchemaField(name=IMAGE_FIELD, type=FieldType.IMAGE, description=f"legacy input {image_param}")]
        if image_param
        else _fields(config.preprocessing.input_params, "preprocessing.input_params")
    )
    outputs = _fields(config.postprocessing.output_params, "postprocessing.output_params")
    if not outputs:
        raise ValidationFailed(
            "config.json declares no outputs",
            details={"postprocessing.output_params": 'declare at least one, e.g. [{"out": "string"}]'},
        )
    prediction = config.prediction
    return {
        "name": slugify(config.name),
        "version": config.version,
        "description": config.description or config.name,
        "framework": "sklearn" if prediction.model_type == "pkl" else "keras",
        "model_file": prediction.name,
        "preprocess": f"{config.preprocessing.name}:{config.preprocessing.method_name}",
        "postprocess": f"{config.postprocessing.name}:{config.postprocessing.method_name}",
        "inputs": inputs,
        "outputs": outputs,
        "requirements": config.dependency,
        "readme": config.readme,
        "legacy": True,
        "legacy_convention": LegacyConvention(
            model_type=prediction.model_type,
            input_kind="image" if image_param else "json",
            predict_method=prediction.method_name,
        ),
    }
