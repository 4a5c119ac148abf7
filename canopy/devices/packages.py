"""Type and device zip uploads: all files are read and checked first; one problem means nothing registers.

A type zip holds the original `sensor/<TYPE>.json` and `controller/<TYPE>.json` files and/or new
definitions in `types/*.json`. A device zip holds the original `sensors/*.json` and
`controllers/*.json` files and/or new definitions in `devices/*.json`. One enclosing folder is
allowed; `__MACOSX/` and dot files are ignored. Errors name each file and field.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, ParamSpec, TypeVar

from sqlalchemy.orm import Session

from canopy.archive import ArchiveLimits, extract_zip
from canopy.devices.device_registry import NewDevice, add_device, device_problems_in_store
from canopy.devices.instances import DeviceSpec, parse_device
from canopy.devices.legacy import device_from_legacy, type_from_legacy
from canopy.devices.schema import DeviceTypeSpec, Kind, parse_type
from canopy.devices.type_registry import TypeChange, register_type, registration_problem
from canopy.errors import ValidationFailed

LIMITS = ArchiveLimits(max_entries=5000, max_total_bytes=64 * 1024 * 1024)
TYPE_LAYOUT = "sensor/<TYPE>.json, controller/<TYPE>.json or types/<name>.json"
DEVICE_LAYOUT = "sensors/<name>.json, controllers/<name>.json or devices/<name>.json"
LEGACY_KINDS: dict[str, Kind] = {
    "sensor": "sensor",
    "controller": "controller",
    "sensors": "sensor",
    "controllers": "controller",
}
T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file of an upload."""

    file: str
    field: str
    problem: str


class Problems:
    """Problems collected over a whole upload, raised together as one ValidationFailed."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def add(self, file: str, field: str, problem: str) -> None:
        """Record a problem."""
        self.found.append(Problem(file, field, problem))

    def parsed(self, file: str, parse: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T | None:
        """parse(...) or, if it raises ValidationFailed, None with each bad field recorded against file."""
        try:
            return parse(*args, **kwargs)
        except ValidationFailed as exc:
            details = exc.details if isinstance(exc.details, dict) else None
            for field, problem in (details or {"(document)": exc.message}).items():
                self.add(file, str(field), str(problem))
            return None

    def raise_any(self, what: str) -> None:
        """Raise ValidationFailed listing every problem, if there are any."""
        if not self.found:
            return
        listed = "; ".join(f"{p.file}: {p.field}: {p.problem}" for p in self.found[:10])
        more = f"; and {len(self.found) - 10} more" if len(self.found) > 10 else ""
        raise ValidationFailed(
            f"{what} refused, nothing was registered: {listed}{more}",
            details={"problems": [asdict(p) for p in self.found]},
        )


def _documents(
    source: bytes | BinaryIO, layout: str, folders: set[str], problems: Problems
) -> dict[str, Any]:
    """The JSON documents of an upload by file name; bad names and bad JSON are recorded as problems."""
    with tempfile.TemporaryDirectory(prefix="canopy-upload-") as scratch:
        root = Path(scratch) / "upload"
        names = [n for n in extract_zip(source, root, LIMITS) if not _ignored(PurePosixPath(n))]
        prefix = _enclosing_folder(names, folders)
        documents = {}
        for name in names:
            shown = name.removeprefix(prefix)
            parts = PurePosixPath(shown).parts
            if len(parts) != 2 or parts[0] not in folders or not parts[1].lower().endswith(".json"):
                problems.add(shown, "(path)", f"unexpected file; expected {layout}")
                continue
            try:
                documents[shown] = json.loads((root / name).read_text(encoding="utf-8-sig"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                problems.add(shown, "(document)", f"not valid JSON: {exc}")
    if not documents and not problems.found:
        problems.add("(archive)", "(path)", f"no files; expected {layout}")
    return documents


def _ignored(path: PurePosixPath) -> bool:
    return path.parts[0] == "__MACOSX" or any(part.startswith(".") for part in path.parts)


def _enclosing_folder(names: list[str], folders: set[str]) -> str:
    """'top/' when every file sits in one folder that is not itself a layout folder, else ''."""
    tops = {PurePosixPath(name).parts[0] for name in names}
    if len(tops) == 1 and all(len(PurePosixPath(n).parts) > 2 for n in names) and not tops & folders:
        return f"{tops.pop()}/"
    return ""


def _type_of(file: str, document: Any) -> DeviceTypeSpec:
    """A type file's definition: original format (named by the file) in sensor/ and controller/."""
    kind = LEGACY_KINDS.get(file.split("/")[0])
    return type_from_legacy(PurePosixPath(file).stem, kind, document) if kind else parse_type(document)


def register_type_package(session: Session, source: bytes | BinaryIO) -> list[tuple[str, TypeChange]]:
    """Register every type in a type zip, or none; returns (file, outcome) pairs."""
    problems = Problems()
    documents = _documents(source, TYPE_LAYOUT, {"sensor", "controller", "types"}, problems)
    specs: dict[str, tuple[str, DeviceTypeSpec]] = {}
    for file, document in sorted(documents.items()):
        spec = problems.parsed(file, _type_of, file, document)
        if spec is None:
            continue
        if spec.name in specs:
            problems.add(file, "name", f"type {spec.name} is also defined by {specs[spec.name][0]}")
            continue
        specs[spec.name] = (file, spec)
        conflict = registration_problem(session, spec)
        if conflict:
            problems.add(file, "name", conflict)
    problems.raise_any("type upload")
    return [(file, register_type(session, spec)) for file, spec in specs.values()]


def register_device_package(session: Session, source: bytes | BinaryIO) -> list[tuple[str, NewDevice]]:
    """Register every device in a device zip, or none; returns (file, new device) pairs."""
    problems = Problems()
    documents = _documents(source, DEVICE_LAYOUT, {"sensors", "controllers", "devices"}, problems)
    specs: dict[str, tuple[str, DeviceSpec]] = {}
    for file, document in sorted(documents.items()):
        kind = LEGACY_KINDS.get(file.split("/")[0])
        parsed = problems.parsed(file, device_from_legacy if kind else parse_device, document)
        if parsed is None:
            continue
        spec = parsed.with_id()
        id_field = "ip_loc" if kind else "id"
        if spec.id in specs:
            problems.add(file, id_field, f"device {spec.id!r} is also defined by {specs[str(spec.id)][0]}")
            continue
        specs[str(spec.id)] = (file, spec)
        for field, problem in device_problems_in_store(session, spec, kind).items():
            problems.add(file, id_field if field == "id" else field, problem)
    problems.raise_any("device upload")
    return [(file, add_device(session, spec)) for file, spec in specs.values()]
