"""What an app package declares before the registry is consulted, and a problem-recording file reader."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from canopy.apps.manifest import DeviceKind
from canopy.devices.packages import Problems
from canopy.errors import ValidationFailed
from canopy.models.manifest import Parsed, parse_fields
from canopy.models.requirements import parse_requirements
from canopy.models.validate import inside

REFUSED = "app upload"
Where = tuple[str, str]  # (file, field) a declaration came from, for error messages


@dataclass(frozen=True)
class DeviceNeed:
    """A device role as declared: its type, the kind the format demands (None: the type's) and where."""

    role: str
    type: str
    kind: DeviceKind | None
    exclusive: bool
    where: Where  # the file and the field path of the role's entry, e.g. ("app.json", "devices.0")


@dataclass(frozen=True)
class ModelNeed:
    """A model as declared: the name the app calls it by, the reference, a version range and where."""

    name: str
    ref: str
    version: str
    where: Where  # the file and the field holding the reference


@dataclass(frozen=True)
class DeclaredApp:
    """A package that passed the file and code checks; its types and models are not yet looked up."""

    manifest_file: str
    fields: dict[str, Any]
    devices: list[DeviceNeed]
    models: list[ModelNeed]


def refuse(problems: Problems) -> NoReturn:
    """Raise the collected problems as one ValidationFailed naming each file and field."""
    problems.raise_any(REFUSED)
    raise ValidationFailed(f"{REFUSED} refused: the package could not be read")


class PackageFiles:
    """Reads an extracted package's files; what is wrong is recorded against its file, not raised."""

    def __init__(self, root: Path, problems: Problems) -> None:
        self.root = root
        self.problems = problems

    def exists(self, relative: str) -> bool:
        """Whether the package holds a file at `relative`."""
        found = inside(self.root, relative)
        return found is not None and found.is_file()

    def text(self, relative: str, where: Where) -> str | None:
        """A text file's content; a missing file is a problem at `where`, a non-UTF-8 one of the file."""
        found = inside(self.root, relative)
        if found is None or not found.is_file():
            self.problems.add(*where, f"file {relative} is not in the package")
            return None
        try:
            return found.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            self.problems.add(relative, "(document)", "not UTF-8 text")
            return None

    def document(self, relative: str, why: str = "") -> dict[str, Any] | None:
        """A JSON object file; a missing file (`why` says why it is needed), bad JSON or a non-object."""
        if not self.exists(relative):
            self.problems.add(relative, "(file)", f"missing from the package{'; ' + why if why else ''}")
            return None
        text = self.text(relative, (relative, "(file)"))
        if text is None:
            return None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno} column {exc.colno}: {exc.msg}"
            self.problems.add(relative, "(document)", f"not valid JSON ({where})")
            return None
        if not isinstance(document, dict):
            self.problems.add(relative, "(document)", "must be a JSON object")
            return None
        return document

    def parse(self, model: type[Parsed], raw: Any, relative: str) -> Parsed | None:
        """The document validated against `model`; each bad field is recorded against the file."""
        return self.problems.parsed(relative, parse_fields, model, raw, relative)

    def requirements(self, requirements: list[str] | str, where: Where) -> list[str]:
        """Requirements as data: a list given at `where`, or the lines of the requirements file named."""
        if isinstance(requirements, list):
            kept, problems = parse_requirements(requirements, f"{where[1]}.{{index}}")
            file = where[0]
        else:
            text = self.text(requirements, where)
            kept, problems = parse_requirements((text or "").splitlines(), "line {line}")
            file = requirements
        for field, problem in problems.items():
            self.problems.add(file, field, problem)
        return kept
