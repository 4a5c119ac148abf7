"""Typed fields of device profiles (int, float, bool, string, image, array) and how each checks a value."""

from __future__ import annotations

import base64
import binascii
import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

DEFAULT_IMAGE_BYTES = 512 * 1024
MAX_IMAGE_BYTES = 8 * 1024 * 1024
DEFAULT_STRING_LENGTH = 1024
MAX_STRING_LENGTH = 65536
MAX_ARRAY_ITEMS = 65536


class FieldProblem(ValueError):
    """A value does not satisfy its field; the message says why."""


class _Field(BaseModel):
    """What every field has: a description, a unit and whether it must be present."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = Field(default="", max_length=500)
    unit: str = Field(default="", max_length=32)
    required: bool = True


def _check_bounds(value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise FieldProblem(f"{value:.15g} is below the minimum {minimum:.15g}")
    if maximum is not None and value > maximum:
        raise FieldProblem(f"{value:.15g} is above the maximum {maximum:.15g}")


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


class _NumberField(_Field):
    """A number with an optional inclusive range."""

    minimum: float | None = None
    maximum: float | None = None

    @model_validator(mode="after")
    def _range_is_ordered(self) -> _NumberField:
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"minimum {self.minimum:.15g} is greater than maximum {self.maximum:.15g}")
        return self


class IntField(_NumberField):
    """A whole number (booleans are refused)."""

    type: Literal["int"]

    def check(self, value: Any) -> int:
        """The value if it is an integer within range, else FieldProblem."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldProblem(f"expected an integer, got {_type_name(value)}")
        _check_bounds(value, self.minimum, self.maximum)
        return value


class FloatField(_NumberField):
    """A finite real number; integers are accepted and returned as floats."""

    type: Literal["float"]

    def check(self, value: Any) -> float:
        """The value as a float if it is a finite number within range, else FieldProblem."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FieldProblem(f"expected a number, got {_type_name(value)}")
        number = float(value)
        if not math.isfinite(number):
            raise FieldProblem(f"expected a finite number, got {value}")
        _check_bounds(number, self.minimum, self.maximum)
        return number


class BoolField(_Field):
    """true or false."""

    type: Literal["bool"]

    def check(self, value: Any) -> bool:
        """The value if it is a boolean, else FieldProblem."""
        if not isinstance(value, bool):
            raise FieldProblem(f"expected true or false, got {_type_name(value)}")
        return value


class StringField(_Field):
    """Text with a maximum length and optionally a fixed set of allowed values."""

    type: Literal["string"]
    max_length: int = Field(default=DEFAULT_STRING_LENGTH, ge=1, le=MAX_STRING_LENGTH)
    enum: list[str] | None = Field(default=None, min_length=1)

    def check(self, value: Any) -> str:
        """The value if it is an allowed string of acceptable length, else FieldProblem."""
        if not isinstance(value, str):
            raise FieldProblem(f"expected a string, got {_type_name(value)}")
        if len(value) > self.max_length:
            raise FieldProblem(f"has {len(value)} characters; at most {self.max_length} allowed")
        if self.enum is not None and value not in self.enum:
            raise FieldProblem(f"{value[:40]!r} is not one of {', '.join(self.enum)}")
        return value


class ImageField(_Field):
    """An encoded image (JPEG, PNG, ...) as base64 text or raw bytes; returned as base64 text."""

    type: Literal["image"]
    max_bytes: int = Field(default=DEFAULT_IMAGE_BYTES, ge=1, le=MAX_IMAGE_BYTES)

    def check(self, value: Any) -> str:
        """The image as base64 text if it decodes and is within max_bytes, else FieldProblem."""
        if isinstance(value, bytes | bytearray):
            size, text = len(value), base64.b64encode(value).decode("ascii")
        elif isinstance(value, str):
            if len(value) > (self.max_bytes + 2) // 3 * 4:
                raise FieldProblem(f"image is over the {self.max_bytes}-byte limit")
            try:
                size, text = len(binascii.a2b_base64(value, strict_mode=True)), value
            except binascii.Error as exc:
                raise FieldProblem(f"image is not valid base64 ({exc})") from None
        else:
            raise FieldProblem(f"expected an image as base64 text or bytes, got {_type_name(value)}")
        if size > self.max_bytes:
            raise FieldProblem(f"image of {size} bytes is over the {self.max_bytes}-byte limit")
        if size == 0:
            raise FieldProblem("image is empty")
        return text


ScalarField = IntField | FloatField | BoolField | StringField
SCALAR_TYPES: dict[str, type[ScalarField]] = {
    "int": IntField,
    "float": FloatField,
    "bool": BoolField,
    "string": StringField,
}


class ArrayField(_Field):
    """A list of scalars of one type, with length bounds and per-item range, length or enum."""

    type: Literal["array"]
    items: Literal["int", "float", "bool", "string"]
    min_items: int = Field(default=0, ge=0, le=MAX_ARRAY_ITEMS)
    max_items: int = Field(default=1024, ge=1, le=MAX_ARRAY_ITEMS)
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = Field(default=None, ge=1, le=MAX_STRING_LENGTH)
    enum: list[str] | None = Field(default=None, min_length=1)
    _item: ScalarField = PrivateAttr()

    @model_validator(mode="after")
    def _item_options_fit(self) -> ArrayField:
        if self.min_items > self.max_items:
            raise ValueError(f"min_items {self.min_items} is greater than max_items {self.max_items}")
        options: dict[str, Any] = {"minimum": self.minimum, "maximum": self.maximum}
        if self.items == "string":
            options = {"max_length": self.max_length or DEFAULT_STRING_LENGTH, "enum": self.enum}
        elif self.max_length is not None or self.enum is not None:
            raise ValueError("max_length and enum apply only to arrays of strings")
        if self.items == "bool" and (self.minimum is not None or self.maximum is not None):
            raise ValueError("minimum and maximum do not apply to arrays of bool")
        given = {key: value for key, value in options.items() if value is not None}
        self._item = SCALAR_TYPES[self.items].model_validate({"type": self.items, **given})
        return self

    def check(self, value: Any) -> list[Any]:
        """The list with each item checked, if its length is within bounds, else FieldProblem."""
        if not isinstance(value, list | tuple):
            raise FieldProblem(f"expected a list, got {_type_name(value)}")
        if not self.min_items <= len(value) <= self.max_items:
            raise FieldProblem(
                f"has {len(value)} items; between {self.min_items} and {self.max_items} allowed"
            )
        checked = []
        for index, item in enumerate(value):
            try:
                checked.append(self._item.check(item))
            except FieldProblem as exc:
                raise FieldProblem(f"item {index}: {exc}") from None
        return checked


FieldSpec = Annotated[
    IntField | FloatField | BoolField | StringField | ImageField | ArrayField,
    Field(discriminator="type"),
]
FIELD_TYPES = ("int", "float", "bool", "string", "image", "array")
