"""Device types (profiles): a sensor's reading fields, a controller's commands and state, device config."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from canopy.devices.fields import FIELD_TYPES, FieldSpec
from canopy.errors import ValidationFailed

TYPE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_FIELDS = 256
FIELD_CONTAINERS = ("fields", "state", "config", "parameters")
Fields = dict[str, FieldSpec]
M = TypeVar("M", bound=BaseModel)
Kind = Literal["sensor", "controller"]


def matching(pattern: re.Pattern[str], rule: str) -> AfterValidator:
    """A pydantic validator refusing text that does not match `pattern`, explaining `rule`."""

    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"{value[:70]!r} is not a valid name: use {rule}")
        return value

    return AfterValidator(check)


TypeName = Annotated[
    str, matching(TYPE_NAME, "1-64 letters, digits, '_', '.' or '-', starting with a letter or digit")
]


def _check_names(names: dict[str, Any]) -> dict[str, Any]:
    bad = [name for name in names if not FIELD_NAME.match(name)]
    if bad:
        raise ValueError(
            f"invalid name {bad[0][:70]!r}: use 1-64 letters, digits or '_', not starting with a digit"
        )
    if len(names) > MAX_FIELDS:
        raise ValueError(f"{len(names)} entries; at most {MAX_FIELDS} allowed")
    return names


class CommandSpec(BaseModel):
    """A controller command and its typed parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = Field(default="", max_length=500)
    parameters: Fields = Field(default_factory=dict)

    _names = field_validator("parameters")(_check_names)


class DeviceTypeSpec(BaseModel):
    """A device type: what a sensor reports, or what a controller accepts and reports as its state."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: TypeName
    kind: Kind
    description: str = Field(default="", max_length=500)
    company: str = Field(default="", max_length=100)
    model: str = Field(default="", max_length=100)
    fields: Fields = Field(default_factory=dict, description="sensor: the fields of each reading")
    state: Fields = Field(default_factory=dict, description="controller: the state it reports")
    commands: dict[str, CommandSpec] = Field(default_factory=dict, description="controller: its commands")
    default_command: str | None = Field(default=None, description="used when a command names none")
    config: Fields = Field(default_factory=dict, description="settings stored with each device")

    _names = field_validator("fields", "state", "commands", "config")(_check_names)

    @model_validator(mode="after")
    def _parts_fit_the_kind(self) -> DeviceTypeSpec:
        if self.kind == "sensor":
            if not self.fields:
                raise ValueError("a sensor type needs at least one entry in 'fields'")
            if self.state or self.commands or self.default_command:
                raise ValueError("a sensor type has 'fields'; 'state' and 'commands' are for controllers")
        else:
            if self.fields:
                raise ValueError("a controller type reports 'state'; 'fields' are for sensors")
            if not self.commands:
                raise ValueError("a controller type needs at least one entry in 'commands'")
            if self.default_command is not None and self.default_command not in self.commands:
                raise ValueError(f"default_command {self.default_command!r} is not one of the commands")
        return self

    @property
    def reported(self) -> Fields:
        """What the device reports: a sensor's reading fields, a controller's state."""
        return self.fields if self.kind == "sensor" else self.state

    @property
    def default_command_name(self) -> str | None:
        """The command used when none is named: default_command, or the only command there is."""
        if self.default_command is not None:
            return self.default_command
        return next(iter(self.commands)) if len(self.commands) == 1 else None

    def to_json(self) -> dict[str, Any]:
        """The definition as JSON-ready data, omitting options left at their defaults."""
        return self.model_dump(mode="json", exclude_defaults=True)


def error_location(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a dotted field path, without the field-type tags it inserts."""
    parts = [
        str(part)
        for index, part in enumerate(loc)
        if not (part in FIELD_TYPES and index >= 2 and loc[index - 2] in FIELD_CONTAINERS)
    ]
    return ".".join(parts) or "(document)"


def problems_of(error: ValidationError) -> dict[str, str]:
    """Each failing field path of a pydantic error, with its message."""
    problems: dict[str, str] = {}
    for item in error.errors(include_url=False):
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.setdefault(error_location(item["loc"]), message)
    return problems


def invalid(what: str, problems: dict[str, str]) -> ValidationFailed:
    """The error 'invalid <what>: field: problem; ...' whose details map each field to its problem."""
    summary = "; ".join(f"{field}: {problem}" for field, problem in problems.items())
    return ValidationFailed(f"invalid {what}: {summary}", details=problems)


def validated(model: type[M], document: Any, what: str) -> M:
    """`document` parsed as `model`, or ValidationFailed('invalid <what>: ...') naming each bad field."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise invalid(what, problems_of(exc)) from None


def parse_type(document: Any) -> DeviceTypeSpec:
    """A DeviceTypeSpec from JSON data, or ValidationFailed naming each bad field."""
    return validated(DeviceTypeSpec, document, "device type")
