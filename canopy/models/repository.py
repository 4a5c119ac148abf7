"""Model packages in the store and the blob store: upload (all or nothing), list, get and delete."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from canopy.archive import ArchiveLimits, extract_zip
from canopy.blob import BlobStore
from canopy.errors import NotFound
from canopy.models.records import ModelRecord, new_model_id, package_key
from canopy.models.validate import ValidatedPackage, validate_package
from canopy.store import Store
from canopy.store.models import User
from canopy.uploads import received_package, store_package

# built once: whether a model id exists, asked by every model call
_MODEL_ID = select(ModelRecord.__table__.c.id).where(ModelRecord.__table__.c.id == bindparam("ref"))
# Caps on an uploaded model archive; read when a repository is made, so tests can lower them.
UPLOAD_LIMITS = ArchiveLimits()


def check_package(package: Path, workspace: Path, limits: ArchiveLimits) -> ValidatedPackage:
    """Safely extract a package zip into the new folder `workspace` and validate what it holds."""
    extract_zip(package, workspace, limits)
    return validate_package(workspace)


def version_in(version: str, versions: SpecifierSet) -> bool:
    """Whether a model version lies in a range (pre-releases count); unparsable versions never do."""
    try:
        return versions.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False


def resolve_model(
    session: Session, ref: str, caller_id: int, versions: SpecifierSet | None = None
) -> ModelRecord:
    """The model `ref` names for a caller: an id, `owner/name` or a bare name of the caller's own.

    A name never resolves to another owner's model unless that owner is named, so nobody can capture
    a name's traffic by uploading a model with the same name. A name means its newest version, or
    the newest inside `versions` when a range is given; an id must lie inside the range.
    """
    within = f" in the range {versions}" if versions else ""
    record = session.get(ModelRecord, ref)
    if record is not None:
        if versions is None or version_in(record.version, versions):
            return record
        raise NotFound(f"model {ref} is version {record.version}, not{within}")
    owner_name, slash, name = ref.rpartition("/")
    query = select(ModelRecord).filter_by(name=name).order_by(ModelRecord.created_at.desc())
    if slash:
        query = query.join(User, ModelRecord.owner_id == User.id).where(User.name == owner_name)
    else:
        query = query.filter_by(owner_id=caller_id)
    if versions is None:
        query = query.limit(1)
    matching = (r for r in session.scalars(query) if versions is None or version_in(r.version, versions))
    record = next(matching, None)
    if record is None:
        hint = "" if slash else "; another owner's model is addressed as owner/name"
        raise NotFound(f"no model {ref!r}{within}{hint}; `canopy model list` shows the models")
    return record


def resolve_model_id(session: Session, ref: str, caller_id: int) -> str:
    """The id of the model `ref` names for a caller (see resolve_model); an id takes one Core query.

    Model calls run this on every request, and an app instance always calls its models by id.
    """
    found: str | None = session.scalar(_MODEL_ID, {"ref": ref})
    return found if found is not None else resolve_model(session, ref, caller_id).id


class ModelRepository:
    """Uploads, lists, finds and deletes models; a refused upload leaves no row, blob or file behind."""

    def __init__(self, store: Store, blob: BlobStore, workspaces: Path, limits: ArchiveLimits | None = None):
        self.store = store
        self.blob = blob
        self.workspaces = workspaces
        self.limits = limits or UPLOAD_LIMITS

    def upload(self, source: IO[bytes], owner_id: int) -> ModelRecord:
        """Validate an uploaded package zip, then store the original zip and its record."""
        with received_package(source, self.workspaces) as (package, workspace):
            manifest = check_package(package, workspace / "files", self.limits).manifest
            model_id = new_model_id()
            record = ModelRecord(
                id=model_id,
                name=manifest.name,
                version=manifest.version,
                description=manifest.description,
                framework=manifest.framework.value,
                manifest=manifest.model_dump_json(),
                owner_id=owner_id,
            )
            return store_package(self.store, self.blob, package, record, "model", package_key(model_id))

    def list(self) -> list[ModelRecord]:
        """Every model, by name and then upload time."""
        return list(self.page(None, "", 0, None)[0])

    def page(
        self, owner_id: int | None, name_part: str, offset: int, limit: int | None
    ) -> tuple[Sequence[ModelRecord], int]:
        """One page (LIMIT/OFFSET) of the models of `owner_id` (None: all) whose name holds `name_part`.

        Ordered by name and then upload time; also the number of matching models on every page.
        """
        matching = select(ModelRecord)
        if owner_id is not None:
            matching = matching.where(ModelRecord.owner_id == owner_id)
        if name_part:
            matching = matching.where(ModelRecord.name.contains(name_part.lower(), autoescape=True))
        query = matching.order_by(ModelRecord.name, ModelRecord.created_at).offset(offset).limit(limit)
        with self.store.session() as session:
            total = session.scalar(select(func.count()).select_from(matching.subquery())) or 0
            return list(session.scalars(query).unique()), total

    def get(self, ref: str, caller_id: int) -> ModelRecord:
        """The model `ref` names for the caller (see resolve_model), or NotFound."""
        with self.store.session() as session:
            return resolve_model(session, ref, caller_id)

    def delete(self, ref: str, caller_id: int, may_manage: Callable[[ModelRecord], None]) -> None:
        """Remove a model's row and package once `may_manage` (which raises when not) allows it."""
        with self.store.session() as session:
            record = resolve_model(session, ref, caller_id)
            may_manage(record)
            session.delete(record)
        self.blob.delete(record.blob_key)
