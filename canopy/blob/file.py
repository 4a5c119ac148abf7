"""The file:// blob driver (objects as files, replaced atomically) and the helpers every driver shares."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from canopy.blob.base import CHUNK_SIZE, BlobInfo, BlobStore, StreamDigest, iter_chunks, validate_key
from canopy.config import Config
from canopy.errors import BadRequest, ConfigError, Conflict, NotFound
from canopy.private import make_private_dir

MAX_FILE_NAME_BYTES = 255


def _read_chunks(handle: BinaryIO) -> Iterator[bytes]:
    """Yield a file's bytes in CHUNK_SIZE pieces, closing it at the end."""
    with handle:
        while chunk := handle.read(CHUNK_SIZE):
            yield chunk


def _root_of(url: str) -> Path:
    """The absolute directory of file:///abs/dir or file://relative/dir."""
    parts = urlsplit(url)
    raw = unquote(parts.netloc + parts.path)
    if not raw:
        raise ConfigError(f"CANOPY_BLOB_URL={url!r} names no directory; expected file:///dir")
    return Path(raw).expanduser().resolve()


class FileBlobStore(BlobStore):
    """Objects under <root>/objects/<key>, checksums in <root>/sha256/<key>, writes via <root>/tmp.

    A checksum file records the inode, size and mtime of the object it describes, so one left
    stale by a concurrent writer is detected and recomputed instead of trusted.
    """

    def __init__(self, url: str, config: Config | None = None) -> None:
        self.root = _root_of(url)
        self._objects = self.root / "objects"
        self._sums = self.root / "sha256"
        self._tmp = self.root / "tmp"
        for directory in (self._objects, self._sums, self._tmp):
            make_private_dir(directory)

    def put(self, key: str, data: bytes | BinaryIO | Iterable[bytes]) -> BlobInfo:
        """Stream data to a temporary file, fsync it and rename it over the object."""
        path = self._path(self._objects, key)
        digest = StreamDigest()
        identity = self._write_atomic(path, digest.feed(iter_chunks(data)), key)
        self._save_sum(key, identity, digest.sha256)
        return BlobInfo(key, digest.size, digest.sha256)

    def open(self, key: str) -> Iterator[bytes]:
        """Stream an object's bytes in CHUNK_SIZE chunks; raises NotFound."""
        return _read_chunks(self._open(key))

    def info(self, key: str) -> BlobInfo:
        """Size and SHA-256 of an object, from its checksum file when that is current."""
        with self._open(key) as handle:
            identity = os.fstat(handle.fileno())
            sha256 = self._load_sum(key, identity)
            if sha256 is None:
                digest = StreamDigest()
                for _ in digest.feed(iter_chunks(handle)):
                    pass
                sha256 = digest.sha256
                self._save_sum(key, identity, sha256)
        return BlobInfo(key, identity.st_size, sha256)

    def list(self, prefix: str = "") -> list[BlobInfo]:
        """Objects whose key starts with prefix, sorted by key."""
        head = prefix.rpartition("/")[0]
        try:
            start = self._path(self._objects, head) if head else self._objects
        except BadRequest:
            return []  # no valid key can start with this prefix
        found = []
        for directory, _, files in os.walk(start):
            for name in files:
                key = Path(directory, name).relative_to(self._objects).as_posix()
                if key.startswith(prefix):
                    try:
                        found.append(self.info(key))
                    except NotFound:
                        continue  # deleted while listing
        return sorted(found, key=lambda info: info.key)

    def delete(self, key: str) -> None:
        """Remove an object and its checksum; a missing key is not an error."""
        for tree in (self._objects, self._sums):
            path = self._path(tree, key)
            try:
                path.unlink()
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                continue
            self._prune(path.parent, tree)

    def exists(self, key: str) -> bool:
        """Whether an object is stored under key."""
        try:
            mode = self._path(self._objects, key).stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            return False
        return stat.S_ISREG(mode)

    def _path(self, tree: Path, key: str) -> Path:
        """The file of key inside tree, after validating the key."""
        segments = validate_key(key).split("/")
        if any(len(segment.encode()) > MAX_FILE_NAME_BYTES for segment in segments):
            raise BadRequest(f"Invalid blob key {key[:100]!r}: a segment is over 255 bytes.")
        return tree.joinpath(*segments)

    def _open(self, key: str) -> BinaryIO:
        """Open an object for reading; raises NotFound."""
        try:
            return self._path(self._objects, key).open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(f"No blob {key!r}.") from None

    def _write_atomic(self, path: Path, chunks: Iterable[bytes], key: str) -> os.stat_result:
        """Write chunks to a temporary file, fsync it, rename it to path; returns its stat."""
        fd, tmp = tempfile.mkstemp(dir=self._tmp)
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
                identity = os.fstat(handle.fileno())
            self._install(tmp, path, key)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return identity

    def _install(self, tmp: str, path: Path, key: str) -> None:
        """Rename tmp over path, creating its parents, and make the rename durable."""
        try:
            for retries_left in (2, 1, 0):
                try:
                    make_private_dir(path.parent)
                    os.replace(tmp, path)
                    break
                except FileNotFoundError:  # a concurrent delete pruned the parent just created
                    if not retries_left:
                        raise
        except (NotADirectoryError, IsADirectoryError, FileExistsError):
            raise Conflict(
                f"Blob key {key!r} clashes with a stored key: the file store cannot hold both "
                "'a' and 'a/...'."
            ) from None
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def _save_sum(self, key: str, identity: os.stat_result, sha256: str) -> None:
        """Record the checksum of the object file described by identity."""
        record = {"sha256": sha256, **self._identity(identity)}
        self._write_atomic(self._path(self._sums, key), [json.dumps(record).encode()], key)

    def _load_sum(self, key: str, identity: os.stat_result) -> str | None:
        """The recorded checksum if it describes this very file, else None."""
        try:
            record = json.loads(self._path(self._sums, key).read_bytes())
        except (OSError, ValueError):
            return None
        current = record.pop("sha256", None) if isinstance(record, dict) else None
        return current if record == self._identity(identity) else None

    @staticmethod
    def _identity(identity: os.stat_result) -> dict[str, int]:
        """What identifies one version of an object file."""
        return {"inode": identity.st_ino, "size": identity.st_size, "mtime_ns": identity.st_mtime_ns}

    @staticmethod
    def _prune(directory: Path, tree: Path) -> None:
        """Remove directories left empty under tree, bottom up."""
        while directory != tree:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent
