"""Check an extracted app package in either format without importing or running any of its code."""

from __future__ import annotations

from pathlib import Path

from canopy.apps.canopy_format import declare_canopy
from canopy.apps.declared import DeclaredApp, PackageFiles, refuse
from canopy.apps.legacy import declare_legacy, is_legacy
from canopy.apps.manifest import MANIFEST_FILE
from canopy.devices.packages import Problems
from canopy.models.validate import package_folders


def find_app_root(extracted: Path, problems: Problems) -> Path | None:
    """The folder holding app.json: the archive's top or its one top folder; None records a problem."""
    for folder in package_folders(extracted):
        if (folder / MANIFEST_FILE).is_file():
            return folder
    problems.add(MANIFEST_FILE, "(file)", "missing from the top level of the package (or its one folder)")
    return None


def validate_package(extracted: Path) -> DeclaredApp:
    """Read and check an extracted app package (either format); ValidationFailed names file and field."""
    problems = Problems()
    root = find_app_root(extracted, problems)
    files = PackageFiles(root, problems) if root is not None else None
    document = files.document(MANIFEST_FILE) if files is not None else None
    declared = None
    if files is not None and document is not None:
        declare = declare_legacy if is_legacy(document) else declare_canopy
        declared = declare(files, document)
    if declared is None or problems.found:
        refuse(problems)
    return declared
