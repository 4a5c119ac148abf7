"""The artifact store interface: put, get, list, delete and exists, streaming, with SHA-256 checksums."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class BlobInfo:
    """What the store knows about one object."""

    key: str
    size: int
    sha256: str


class BlobStore(ABC):
    """An object store addressed by '/'-separated keys; chosen by URL, see canopy.blob.open_blob."""

    @abstractmethod
    def put(self, key: str, data: bytes | BinaryIO | Iterable[bytes]) -> BlobInfo:
        """Store data under key (streamed, never whole in memory for file objects); atomic replace."""

    @abstractmethod
    def open(self, key: str) -> Iterator[bytes]:
        """Stream an object's bytes in chunks; raises NotFound."""

    def get(self, key: str) -> bytes:
        """Read a whole object; raises NotFound."""
        return b"".join(self.open(key))

    @abstractmethod
    def info(self, key: str) -> BlobInfo:
        """Size and checksum of an object; raises NotFound."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[BlobInfo]:
        """Objects whose key starts with prefix, sorted by key."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object; deleting a missing key is not an error."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under key."""
