"""Model packages: the manifest format, the legacy format, validation and storage."""

from __future__ import annotations

from canopy.models.manifest import FieldType, Framework, ModelManifest, SchemaField
from canopy.models.records import ModelRecord
from canopy.models.repository import ModelRepository
from canopy.models.validate import ValidatedPackage, validate_package

__all__ = [
    "FieldType",
    "Framework",
    "ModelManifest",
    "ModelRecord",
    "ModelRepository",
    "SchemaField",
    "ValidatedPackage",
    "validate_package",
]
