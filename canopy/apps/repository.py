"""App packages in the store and the blob store: upload (all or nothing), list, get and delete."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from canopy.apps.declared import DeclaredApp
from canopy.apps.records import AppInstance, AppRecord, app_package_key, new_app_id
from canopy.apps.references import StoreRegistry, resolve_references
from canopy.apps.validate import validate_package
from canopy.archive import ArchiveLimits, extract_zip
from canopy.blob import BlobStore
from canopy.errors import Conflict, NotFound
from canopy.store import Store
from canopy.uploads import received_package, store_package

# Caps on an uploaded app archive; read when a repository is made, so tests can lower them.
UPLOAD_LIMITS = ArchiveLimits(max_entries=2000, max_total_bytes=128 * 1024 * 1024)
SHOWN_INSTANCES = 5


def check_package(package: Path, workspace: Path, limits: ArchiveLimits) -> DeclaredApp:
    """Safely extract a package zip into the new folder `workspace` and check its files and code."""
    extract_zip(package, workspace, limits)
    return validate_package(workspace)


def get_app(session: Session, app_id: str) -> AppRecord:
    """The app with that id, or NotFound saying how to list them."""
    record = session.get(AppRecord, app_id)
    if record is None:
        raise NotFound(f"no app {app_id!r}; `canopy app list` shows the apps")
    return record


def search_apps(
    session: Session, text: str, owner_id: int | None, limit: int, offset: int
) -> tuple[list[AppRecord], int]:
    """A page of the apps (only `owner_id`'s when given) whose name or description holds `text`; the count."""
    query = select(AppRecord)
    if text:
        pattern = f"%{text}%"
        query = query.where(or_(AppRecord.name.ilike(pattern), AppRecord.description.ilike(pattern)))
    if owner_id is not None:
        query = query.where(AppRecord.owner_id == owner_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    ordered = query.order_by(AppRecord.name, AppRecord.created_at).limit(limit).offset(offset)
    return list(session.scalars(ordered).unique()), total


class AppRepository:
    """Uploads, lists, finds and deletes apps; a refused upload leaves no row, blob or file behind."""

    def __init__(self, store: Store, blob: BlobStore, workspaces: Path, limits: ArchiveLimits | None = None):
        self.store = store
        self.blob = blob
        self.workspaces = workspaces
        self.limits = limits or UPLOAD_LIMITS

    def upload(self, source: IO[bytes], owner_id: int) -> AppRecord:
        """Check an uploaded zip (archive, files, code, then types and models) and store it and its record."""
        with received_package(source, self.workspaces) as (package, workspace):
            declared = check_package(package, workspace / "files", self.limits)
            with self.store.session() as session:
                manifest = resolve_references(StoreRegistry(session, owner_id), declared)
            app_id = new_app_id()
            record = AppRecord(
                id=app_id,
                name=manifest.name,
                version=manifest.version,
                description=manifest.description,
                format=manifest.format,
                manifest=manifest.model_dump_json(),
                owner_id=owner_id,
            )
            return store_package(self.store, self.blob, package, record, "app", app_package_key(app_id))

    def list(self) -> list[AppRecord]:
        """Every app, by name and then upload time."""
        with self.store.session() as session:
            query = select(AppRecord).order_by(AppRecord.name, AppRecord.created_at)
            return list(session.scalars(query).unique())

    def get(self, app_id: str) -> AppRecord:
        """The app with that id, or NotFound."""
        with self.store.session() as session:
            return get_app(session, app_id)

    def delete(self, app_id: str, may_manage: Callable[[AppRecord], None]) -> None:
        """Remove an app's row and package once `may_manage` allows it and no instance of it is left."""
        with self.store.session() as session:
            record = get_app(session, app_id)
            may_manage(record)
            instances = list(session.scalars(select(AppInstance.id).filter_by(app_id=app_id)))
            if instances:
                shown = ", ".join(instances[:SHOWN_INSTANCES]) + (
                    ", ..." if len(instances) > SHOWN_INSTANCES else ""
                )
                raise Conflict(
                    f"app {app_id} ({record.name}) has {len(instances)} instance(s): {shown}; "
                    "stop and remove them first (`canopy app instances` lists them)"
                )
            session.delete(record)
        self.blob.delete(record.blob_key)
