"""An uploaded package, all or nothing: copied to a private workspace, then its zip and its row stored."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

from sqlalchemy import select

from canopy.blob import BlobStore
from canopy.errors import Conflict
from canopy.store import Store, conflict_on_duplicate

COPY_CHUNK = 1024 * 1024


class PackageRow(Protocol):
    """A table row of an uploaded package: identity, owner and where its zip is stored."""

    id: Any
    name: Any
    version: Any
    owner_id: Any
    blob_key: Any
    sha256: Any
    size: Any


Row = TypeVar("Row", bound=PackageRow)


@contextmanager
def received_package(source: IO[bytes], workspaces: Path) -> Iterator[tuple[Path, Path]]:
    """Copy an upload to `package.zip` in a fresh workspace; yield it and the workspace, removed after."""
    workspaces.mkdir(parents=True, exist_ok=True)
    workspace = Path(tempfile.mkdtemp(prefix="upload-", dir=workspaces))
    try:
        package = workspace / "package.zip"
        with package.open("wb") as out:
            shutil.copyfileobj(source, out, COPY_CHUNK)
        yield package, workspace
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def store_package(store: Store, blob: BlobStore, package: Path, row: Row, what: str, key: str) -> Row:
    """Put the zip at `key`, then insert `row` with its digest and size; remove the blob if that fails.

    `what` names the kind of package in the error when the owner already has that name and version.
    """
    duplicate = f"{what} {row.name} {row.version} already exists; upload a new version"
    table = type(row)
    with store.session() as session:
        taken = select(table).filter_by(owner_id=row.owner_id, name=row.name, version=row.version)
        if session.scalars(taken).first() is not None:
            raise Conflict(duplicate)
    with package.open("rb") as handle:
        stored = blob.put(key, handle)
    try:
        with conflict_on_duplicate(duplicate), store.session() as session:
            row.blob_key, row.sha256, row.size = key, stored.sha256, stored.size
            session.add(row)
            session.flush()
            session.refresh(row)
    except BaseException:
        blob.delete(key)
        raise
    return row
