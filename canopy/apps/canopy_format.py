"""The canopy app format: `app.json` as its author writes it, and its reading into a DeclaredApp.

    {"name": "fan-monitor", "version": "1.0.0", "entry": "monitor:main",
     "models": [{"name": "anomaly", "ref": "fan-anomaly", "version": ">=1.0,<2"}],
     "devices": [{"name": "fan", "type": "TURBINE_FAN"},
                 {"name": "buzzer", "type": "BUZZER", "exclusive": true}],
     "page": {"port": 8080}, "requirements": [], "python": "3.11", "database": false}

A device's kind (sensor or controller) is its type's; a model is an id, a name of the uploader's own
models or `owner/name`, with an optional version range.
"""

from __future__ import annotations

from typing import Annotated, Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from canopy.apps.code import entry_problem
from canopy.apps.declared import DeclaredApp, DeviceNeed, ModelNeed, PackageFiles
from canopy.apps.manifest import MANIFEST_FILE, ROLE_NAME, Entry, Page
from canopy.models.manifest import PYTHON_VERSION, SLUG, VERSION, PackagePath, Resources


def check_version_range(value: str) -> str:
    """Accept an empty range or a PEP 440 specifier set such as '>=1.0,<2'."""
    try:
        SpecifierSet(value)
    except InvalidSpecifier:
        raise ValueError("must be a version range such as '>=1.0,<2' or '==1.2.0'") from None
    return value


class ModelEntry(BaseModel):
    """A model the app calls: the name it uses in model_call, what it refers to, a version range."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=ROLE_NAME)
    ref: str = Field(min_length=1, max_length=140, description="a model id, 'name' or 'owner/name'")
    version: Annotated[str, AfterValidator(check_version_range)] = Field(default="", max_length=64)


class DeviceEntry(BaseModel):
    """A device role: the name the app uses, the type its device must have, whether it is held alone."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=ROLE_NAME)
    type: str = Field(min_length=1, max_length=64)
    exclusive: bool = False


class AppFile(BaseModel):
    """The canopy-format app.json."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=SLUG, description="lower-case slug: a-z, 0-9, '.', '_', '-'")
    version: str = Field(pattern=VERSION, description="e.g. 1.0.0")
    description: str = Field(default="", max_length=4000)
    entry: Entry
    models: list[ModelEntry] = Field(default_factory=list, max_length=32)
    devices: list[DeviceEntry] = Field(default_factory=list, max_length=64)
    page: Page | None = None
    requirements: list[str] | PackagePath = Field(default_factory=list)
    python: str | None = Field(default=None, pattern=PYTHON_VERSION)
    resources: Resources = Field(default_factory=Resources)
    database: bool = False

    @field_validator("models", "devices")
    @classmethod
    def _unique_names(cls, entries: list[Any]) -> list[Any]:
        """Each role name and each model name is used once."""
        names = [entry.name for entry in entries]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"the name {repeated[0]!r} is used more than once")
        return entries


def declare_canopy(files: PackageFiles, raw: dict[str, Any]) -> DeclaredApp | None:
    """A canopy-format package as declared, or None when its app.json is invalid (problems recorded)."""
    app = files.parse(AppFile, raw, MANIFEST_FILE)
    if app is None:
        return None
    if problem := entry_problem(files.root, app.entry):
        files.problems.add(MANIFEST_FILE, "entry", problem)
    requirements = files.requirements(app.requirements, (MANIFEST_FILE, "requirements"))
    fields = app.model_dump(exclude={"devices", "models"})
    fields.update(format="canopy", requirements=requirements)
    return DeclaredApp(
        manifest_file=MANIFEST_FILE,
        fields=fields,
        devices=[
            DeviceNeed(d.name, d.type, None, d.exclusive, (MANIFEST_FILE, f"devices.{i}"))
            for i, d in enumerate(app.devices)
        ],
        models=[
            ModelNeed(m.name, m.ref, m.version, (MANIFEST_FILE, f"models.{i}.ref"))
            for i, m in enumerate(app.models)
        ],
    )
