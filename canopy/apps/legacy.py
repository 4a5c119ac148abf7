"""The original platform's app format, read unchanged and turned into a DeclaredApp.

`app.json` holds app_name, description and the flags script, controller, sensor, model and database.
A flag that is true makes its file required: sensor -> config/sensors.json, controller ->
config/controllers.json ({count, instances[{index, type}]}), model -> config/models.json ({count,
instances[{model_id}]}, where a migrating user writes a Canopy model id, name or owner/name).
config/control.json ({main, scripts[{filename, args}]}) is always needed, as the original's generated
Dockerfile needed it: `main` is what runs; its scripts are checked when script is true. Roles are named
sensor_<index> and controller_<index>, models model_<position>. The page is on the port of the main
file's `.run(..., port=N)` call, else on 6015, the original convention.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from canopy.apps.code import page_port, python_file_problem
from canopy.apps.declared import DeclaredApp, DeviceNeed, ModelNeed, PackageFiles
from canopy.apps.manifest import MANIFEST_FILE, DeviceKind
from canopy.models.legacy import LEGACY_VERSION, slugify
from canopy.models.manifest import PackagePath

SENSORS_FILE = "config/sensors.json"
CONTROLLERS_FILE = "config/controllers.json"
MODELS_FILE = "config/models.json"
CONTROL_FILE = "config/control.json"
REQUIREMENTS_FILE = "requirements.txt"
LEGACY_PAGE_PORT = 6015
MIN_PAGE_PORT = 1024
LEGACY_KEY = "app_name"


class _Legacy(BaseModel):
    """Original documents: unknown keys are ignored, as the original schemas allowed them."""

    model_config = ConfigDict(extra="ignore")


class LegacyAppFile(_Legacy):
    """The original app.json: a display name, a description and what the app uses."""

    app_name: str = Field(min_length=1, max_length=200)
    description: str = Field(max_length=4000)
    script: StrictBool
    controller: StrictBool
    sensor: StrictBool
    model: StrictBool
    database: StrictBool


class LegacyDevice(_Legacy):
    """One device an app uses: the number the SDK is called with, and its type."""

    index: StrictInt = Field(ge=0, le=63)
    type: str = Field(min_length=1, max_length=64)


class LegacyDevices(_Legacy):
    """config/sensors.json or config/controllers.json."""

    count: StrictInt = Field(ge=0)
    instances: list[LegacyDevice] = Field(max_length=64)


class LegacyModel(_Legacy):
    """One model an app uses, by a Canopy model id, name or owner/name."""

    model_id: str = Field(min_length=1, max_length=140)


class LegacyModels(_Legacy):
    """config/models.json."""

    count: StrictInt = Field(ge=0)
    instances: list[LegacyModel] = Field(max_length=32)


class LegacyScript(_Legacy):
    """A script the app starts itself."""

    filename: PackagePath
    args: str = ""


class LegacyControl(_Legacy):
    """config/control.json: the main file and the app's scripts."""

    main: PackagePath
    scripts: list[LegacyScript] = Field(default_factory=list, max_length=32)


def is_legacy(document: dict[str, Any]) -> bool:
    """Whether an app.json is in the original format (it names the app with app_name)."""
    return LEGACY_KEY in document


def _count_problem(files: PackageFiles, relative: str, count: int, listed: int) -> None:
    """Record a count that does not match the instances listed."""
    if count != listed:
        files.problems.add(relative, "count", f"is {count} but {listed} instances are listed")


def _devices(files: PackageFiles, relative: str, kind: DeviceKind, flag: str) -> list[DeviceNeed]:
    """The roles a sensors or controllers file declares, each index once."""
    document = files.document(relative, f"app.json sets {flag}: true")
    parsed = files.parse(LegacyDevices, document, relative) if document is not None else None
    if parsed is None:
        return []
    _count_problem(files, relative, parsed.count, len(parsed.instances))
    needs, seen = [], set()
    for position, device in enumerate(parsed.instances):
        if device.index in seen:
            files.problems.add(relative, f"instances.{position}.index", f"index {device.index} is used twice")
        seen.add(device.index)
        where = (relative, f"instances.{position}")
        needs.append(DeviceNeed(f"{kind}_{device.index}", device.type, kind, False, where))
    return needs


def _models(files: PackageFiles) -> list[ModelNeed]:
    """The models config/models.json declares, named by their position."""
    document = files.document(MODELS_FILE, "app.json sets model: true")
    parsed = files.parse(LegacyModels, document, MODELS_FILE) if document is not None else None
    if parsed is None:
        return []
    _count_problem(files, MODELS_FILE, parsed.count, len(parsed.instances))
    return [
        ModelNeed(f"model_{position}", model.model_id, "", (MODELS_FILE, f"instances.{position}.model_id"))
        for position, model in enumerate(parsed.instances)
    ]


def _control(files: PackageFiles, with_scripts: bool) -> LegacyControl | None:
    """control.json with its main file and (when the app has scripts) each script checked."""
    document = files.document(CONTROL_FILE, "it names the main file that runs")
    control = files.parse(LegacyControl, document, CONTROL_FILE) if document is not None else None
    if control is None:
        return None
    if problem := python_file_problem(files.root, control.main):
        files.problems.add(CONTROL_FILE, "main", problem)
    for position, script in enumerate(control.scripts if with_scripts else []):
        if problem := python_file_problem(files.root, script.filename):
            files.problems.add(CONTROL_FILE, f"scripts.{position}.filename", problem)
    return control


def _page(files: PackageFiles, main: str) -> dict[str, int]:
    """The page of a legacy app: the main file's `.run(..., port=N)` port, else 6015."""
    found = page_port(files.root, main)
    if found is None:
        return {"port": LEGACY_PAGE_PORT}
    if not MIN_PAGE_PORT <= found.port <= 65535:
        where = f"the page port {found.port} (line {found.line})"
        files.problems.add(main, "port", f"{where} must be from {MIN_PAGE_PORT} to 65535")
    return {"port": found.port}


def declare_legacy(files: PackageFiles, raw: dict[str, Any]) -> DeclaredApp | None:
    """An original-format package as declared, or None when its app.json is invalid (problems recorded)."""
    app = files.parse(LegacyAppFile, raw, MANIFEST_FILE)
    if app is None:
        return None
    name = slugify(app.app_name)
    if not name:
        files.problems.add(MANIFEST_FILE, LEGACY_KEY, "needs at least one letter or digit")
    devices = _devices(files, SENSORS_FILE, "sensor", "sensor") if app.sensor else []
    if app.controller:
        devices += _devices(files, CONTROLLERS_FILE, "controller", "controller")
    models = _models(files) if app.model else []
    control = _control(files, app.script)
    has_requirements = files.exists(REQUIREMENTS_FILE)
    requirements = (
        files.requirements(REQUIREMENTS_FILE, (MANIFEST_FILE, "requirements")) if has_requirements else []
    )
    if control is None:
        return None
    fields: dict[str, Any] = {
        "format": "legacy",
        "name": name,
        "version": LEGACY_VERSION,
        "description": app.description or app.app_name,
        "entry": control.main,
        "page": _page(files, control.main),
        "requirements": requirements,
        "database": app.database,
        "scripts": [script.model_dump() for script in control.scripts] if app.script else [],
    }
    return DeclaredApp(MANIFEST_FILE, fields, devices, models)
