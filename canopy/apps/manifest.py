"""The normalised app manifest both package formats (`app.json` and the original platform's) become."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from canopy.models.manifest import PYTHON_VERSION, SLUG, VERSION, PackagePath, Resources

MANIFEST_FILE = "app.json"
ROLE_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DeviceKind = Literal["sensor", "controller"]


def check_entry(value: str) -> str:
    """Accept 'package.module:function', 'package.module' (run as __main__) or 'file.py' (a script)."""
    if value.endswith(".py"):
        return value
    module, colon, function = value.partition(":")
    if not MODULE.match(module) or (colon and not IDENTIFIER.match(function)):
        raise ValueError("must look like 'module:function', 'module' or 'file.py'")
    return value


Entry = Annotated[str, AfterValidator(check_entry)]


class ModelUse(BaseModel):
    """A model the app calls, under the name the app uses for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=ROLE_NAME, description="what the app passes to model_call")
    ref: str = Field(min_length=1, max_length=140, description="a model id, 'name' or 'owner/name'")
    version: str = Field(default="", max_length=64, description="a version range like '>=1.0,<2', or empty")
    model_id: str | None = Field(default=None, max_length=16, description="the model `ref` named at upload")


class DeviceRole(BaseModel):
    """A device the app needs, by the name the app uses for it, and the type it must have."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=ROLE_NAME)
    type: str = Field(min_length=1, max_length=64)
    kind: DeviceKind = "sensor"
    exclusive: bool = False

    @model_validator(mode="after")
    def _exclusive_controllers_only(self) -> DeviceRole:
        """Only controllers can be held exclusively; many apps may read one sensor."""
        if self.exclusive and self.kind != "controller":
            raise ValueError("exclusive applies to controllers only")
        return self


class Page(BaseModel):
    """The app's web page: the port it serves HTTP on inside its workload."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    port: int = Field(ge=1024, le=65535)


class Script(BaseModel):
    """An extra script of an original-format app (stored; the app starts it itself, as it always did)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    filename: PackagePath
    args: str = ""


class AppManifest(BaseModel):
    """An app package's manifest after normalisation; original-format packages are converted to it.

    Original-format apps address devices and models by index: their roles are named `sensor_<index>`,
    `controller_<index>` and their models `model_<position>`, which is what the SDK's index calls use.
    """

    model_config = ConfigDict(extra="forbid")

    format: Literal["canopy", "legacy"] = "canopy"
    name: str = Field(pattern=SLUG, description="lower-case slug: a-z, 0-9, '.', '_', '-'")
    version: str = Field(default="1.0.0", pattern=VERSION)
    description: str = Field(default="", max_length=4000)
    entry: Entry
    models: list[ModelUse] = Field(default_factory=list, max_length=32)
    devices: list[DeviceRole] = Field(default_factory=list, max_length=64)
    page: Page | None = None
    requirements: list[str] | PackagePath = Field(default_factory=list)
    python: str | None = Field(default=None, pattern=PYTHON_VERSION)
    resources: Resources = Field(default_factory=Resources)
    database: bool = False
    scripts: list[Script] = Field(default_factory=list, max_length=32)

    @model_validator(mode="after")
    def _unique_names(self) -> AppManifest:
        """Role names and model names are each unique within the app."""
        for side, names in (
            ("devices", [d.name for d in self.devices]),
            ("models", [m.name for m in self.models]),
        ):
            if len(set(names)) != len(names):
                raise ValueError(f"{side} has duplicate names")
        return self

    def role(self, name: str) -> DeviceRole | None:
        """The device role of that name, if declared."""
        return next((role for role in self.devices if role.name == name), None)
