"""Look up what an app declares: each device type (with its kind) and each model, in a registry.

The decisions are pure over the Registry protocol; StoreRegistry answers from the platform's tables.
"""

from __future__ import annotations

import difflib
from typing import Any, Protocol

from packaging.specifiers import SpecifierSet
from sqlalchemy import select
from sqlalchemy.orm import Session

from canopy.apps.declared import DeclaredApp, DeviceNeed, ModelNeed, refuse
from canopy.apps.manifest import AppManifest
from canopy.devices.models import DeviceType
from canopy.devices.packages import Problems
from canopy.errors import NotFound
from canopy.models.manifest import parse_fields
from canopy.models.repository import resolve_model

CONTROLLER = "controller"


class Registry(Protocol):
    """What validation needs to know about registered device types and models."""

    def type_kind(self, name: str) -> str | None:
        """The kind ('sensor' or 'controller') of a registered type, or None if there is no such type."""

    def type_names(self) -> list[str]:
        """Every registered type name."""

    def model_id(self, ref: str, versions: SpecifierSet | None) -> str:
        """The id of the model `ref` names for the uploader; NotFound says why there is none."""


class StoreRegistry:
    """The Registry of the platform's store, for one uploader."""

    def __init__(self, session: Session, caller_id: int) -> None:
        self.session = session
        self.caller_id = caller_id

    def type_kind(self, name: str) -> str | None:
        """The kind of the registered type, or None."""
        row = self.session.get(DeviceType, name)
        return row.kind if row is not None else None

    def type_names(self) -> list[str]:
        """Every registered type name."""
        return list(self.session.scalars(select(DeviceType.name)))

    def model_id(self, ref: str, versions: SpecifierSet | None) -> str:
        """The model id, resolved as everywhere else (id, own name or owner/name; see resolve_model)."""
        return resolve_model(self.session, ref, self.caller_id, versions).id


def unknown_type(registry: Registry, name: str) -> str:
    """'unknown device type 'TEMPX'', with the closest registered names when there are some."""
    by_fold = {known.casefold(): known for known in registry.type_names()}
    close = difflib.get_close_matches(name.casefold(), list(by_fold), n=3)
    hint = f"; did you mean {', '.join(repr(by_fold[c]) for c in close)}?" if close else ""
    return f"unknown device type {name!r}{hint} (`canopy device type list` shows the registered types)"


def _role(registry: Registry, need: DeviceNeed, problems: Problems) -> dict[str, Any] | None:
    """The manifest entry of a device role, its kind taken from the registered type."""
    file, prefix = need.where
    kind = registry.type_kind(need.type)
    if kind is None:
        problems.add(file, f"{prefix}.type", unknown_type(registry, need.type))
        return None
    if need.kind is not None and kind != need.kind:
        problems.add(file, f"{prefix}.type", f"{need.type} is a {kind} type, not a {need.kind}")
        return None
    if need.exclusive and kind != CONTROLLER:
        why = f"{need.type} is a {kind} type; only controllers are held exclusively"
        problems.add(file, f"{prefix}.exclusive", why)
        return None
    return {"name": need.role, "type": need.type, "kind": kind, "exclusive": need.exclusive}


def _model(registry: Registry, need: ModelNeed, problems: Problems) -> dict[str, Any] | None:
    """The manifest entry of a model use, with the id its reference resolves to."""
    versions = SpecifierSet(need.version) if need.version else None
    try:
        model_id = registry.model_id(need.ref, versions)
    except NotFound as exc:
        problems.add(*need.where, exc.message)
        return None
    return {"name": need.name, "ref": need.ref, "version": need.version, "model_id": model_id}


def resolve_references(registry: Registry, declared: DeclaredApp) -> AppManifest:
    """The normalised manifest, once every type exists with the right kind and every model resolves."""
    problems = Problems()
    devices = [_role(registry, need, problems) for need in declared.devices]
    models = [_model(registry, need, problems) for need in declared.models]
    data = {**declared.fields, "devices": devices, "models": models}
    file = declared.manifest_file
    manifest = None if problems.found else problems.parsed(file, parse_fields, AppManifest, data, file)
    if manifest is None:
        refuse(problems)
    return manifest
