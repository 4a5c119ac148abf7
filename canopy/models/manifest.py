"""The model package manifest (`model.json`): what a model is, how to load it and what it takes and gives."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from canopy.errors import ValidationFailed

MANIFEST_FILE = "model.json"
SLUG = r"^[a-z0-9][a-z0-9._-]{0,63}$"
VERSION = r"^\d+(\.\d+){0,2}([-+][0-9A-Za-z.+-]+)?$"
PYTHON_VERSION = r"^3\.\d{1,2}$"
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
Parsed = TypeVar("Parsed", bound=BaseModel)


def check_package_path(value: str) -> str:
    """Accept a relative '/'-separated path that stays inside the package."""
    segments = value.rstrip("/").split("/")
    if not value or value.startswith("/") or "\\" in value or "\x00" in value:
        raise ValueError("must be a relative path inside the package, with '/' separators")
    if {"", ".", ".."} & set(segments):
        raise ValueError("must not contain empty, '.' or '..' segments")
    return value.rstrip("/")


def check_code_ref(value: str) -> str:
    """Accept 'file.py:name', naming a Python file in the package and a name it defines."""
    path, colon, name = value.rpartition(":")
    if not colon or not path.endswith(".py") or not IDENTIFIER.match(name):
        raise ValueError("must look like 'file.py:name'")
    check_package_path(path)
    return value


PackagePath = Annotated[str, AfterValidator(check_package_path)]
CodeRef = Annotated[str, AfterValidator(check_code_ref)]


def split_code_ref(ref: str) -> tuple[str, str]:
    """Split 'file.py:name' into the file path and the name."""
    path, _, name = ref.rpartition(":")
    return path, name


class Framework(StrEnum):
    """How the model file is loaded."""

    KERAS = "keras"
    TFLITE = "tflite"
    SKLEARN = "sklearn"
    PYTHON = "python"


class FieldType(StrEnum):
    """The type of one input or output field."""

    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STRING = "string"
    IMAGE = "image"
    ARRAY = "array"
    OBJECT = "object"


class SchemaField(BaseModel):
    """One named input or output field."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
    type: FieldType
    description: str = ""
    shape: list[int | None] | None = None
    items: FieldType | None = None
    minimum: float | None = None
    maximum: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SchemaField:
        """Shapes and item types only for arrays; bounds only for numbers, in order."""
        if (self.shape is not None or self.items is not None) and self.type is not FieldType.ARRAY:
            raise ValueError("shape and items apply to fields of type 'array' only")
        bounded = self.minimum is not None or self.maximum is not None
        if bounded and self.type not in (FieldType.INT, FieldType.FLOAT):
            raise ValueError("minimum and maximum apply to 'int' and 'float' fields only")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError("minimum is greater than maximum")
        return self


class Resources(BaseModel):
    """What one replica may use."""

    model_config = ConfigDict(extra="forbid")

    cpu: float = Field(default=0.5, gt=0, le=64)
    memory_mb: int = Field(default=512, ge=32, le=262_144)


class LegacyConvention(BaseModel):
    """How a legacy (config.json) model is called: preprocess(input) -> model.predict -> postprocess."""

    model_config = ConfigDict(extra="forbid")

    model_type: Literal["pkl", "h5"]
    input_kind: Literal["image", "json"]
    predict_method: str = "predict"
    response_key: str = "output"


MODEL_FILE_SUFFIXES: dict[Framework, tuple[str, ...]] = {
    Framework.KERAS: (".keras", ".h5"),
    Framework.TFLITE: (".tflite",),
    Framework.SKLEARN: (".pkl", ".pickle", ".joblib"),
}


class ModelManifest(BaseModel):
    """A model package's manifest, after normalisation (legacy packages are converted to it)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=SLUG, description="lower-case slug: a-z, 0-9, '.', '_', '-'")
    version: str = Field(pattern=VERSION, description="e.g. 1.0.0 or 2.1.0-rc1")
    description: str = Field(default="", max_length=4000)
    framework: Framework
    model_file: PackagePath | None = None
    model_class: CodeRef | None = None
    preprocess: CodeRef | None = None
    postprocess: CodeRef | None = None
    inputs: list[SchemaField] = Field(min_length=1)
    outputs: list[SchemaField] = Field(min_length=1)
    requirements: list[str] | PackagePath = Field(default_factory=list)
    python: str | None = Field(default=None, pattern=PYTHON_VERSION)
    resources: Resources = Field(default_factory=Resources)
    replicas: int = Field(default=1, ge=1, le=64)
    readme: PackagePath | None = None
    legacy: bool = False
    legacy_convention: LegacyConvention | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ModelManifest:
        """The framework decides which of model_file and model_class are needed."""
        if self.framework is Framework.PYTHON:
            if self.model_class is None:
                raise ValueError("framework 'python' needs model_class: 'module.py:ClassName'")
        else:
            if self.model_class is not None:
                raise ValueError(f"model_class applies to framework 'python' only, not {self.framework}")
            if self.model_file is None:
                raise ValueError(f"framework '{self.framework}' needs model_file")
        if self.legacy != (self.legacy_convention is not None):
            raise ValueError("legacy and legacy_convention go together")
        for side, fields in (("inputs", self.inputs), ("outputs", self.outputs)):
            names = [field.name for field in fields]
            if len(set(names)) != len(names):
                raise ValueError(f"{side} has duplicate field names")
        return self

    def code_refs(self) -> dict[str, str]:
        """The manifest's 'file.py:name' references, keyed by field name."""
        refs = {
            "model_class": self.model_class,
            "preprocess": self.preprocess,
            "postprocess": self.postprocess,
        }
        return {field: ref for field, ref in refs.items() if ref is not None}


def parse_fields(model: type[Parsed], raw: Any, source: str) -> Parsed:
    """Validate raw JSON against a pydantic model; ValidationFailed maps each field path to its problem."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        details = {
            _error_location(error["loc"]): error["msg"].removeprefix("Value error, ")
            for error in exc.errors()
        }
        problems = "; ".join(f"{field}: {problem}" for field, problem in details.items())
        raise ValidationFailed(f"{source} is invalid: {problems}", details=details) from exc


def _error_location(location: tuple[int | str, ...]) -> str:
    """A pydantic error location as a dotted field path, e.g. 'inputs.0.type'."""
    return ".".join(str(part) for part in location) or "(manifest)"
