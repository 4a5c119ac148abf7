"""The artifact store interface: put, get, list, delete and exists, streaming, with SHA-256 checksums."""

from __future__ import annotations

import hashlib
import io
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from canopy.errors import BadRequest

CHUNK_SIZE = 1024 * 1024
MAX_KEY_LENGTH = 1024


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


def validate_key(key: str) -> str:
    """Return key if it is a valid blob key, otherwise raise BadRequest saying why."""
    segments = key.split("/")
    if not key:
        problem = "it is empty"
    elif len(key) > MAX_KEY_LENGTH:
        problem = f"it is longer than {MAX_KEY_LENGTH} characters"
    elif key.startswith("/"):
        problem = "it starts with '/'"
    elif "\\" in key or "\x00" in key:
        problem = "it contains a backslash or a NUL character"
    elif {"", ".", ".."} & set(segments):
        problem = "it has an empty, '.' or '..' segment"
    else:
        return key
    raise BadRequest(f"Invalid blob key {key[:100]!r}: {problem}.")


def iter_chunks(data: bytes | BinaryIO | Iterable[bytes], size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Re-cut bytes, a file object (read incrementally) or an iterable into `size`-byte chunks."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = io.BytesIO(data)
    read = getattr(data, "read", None)
    pieces: Iterable[bytes] = iter(lambda: read(size), b"") if read is not None else data
    buffer = bytearray()
    for piece in pieces:
        if not buffer and len(piece) == size:
            yield piece  # the usual case for file objects: no copy
            continue
        buffer += piece
        while len(buffer) >= size:
            with memoryview(buffer) as view:
                chunk = bytes(view[:size])
            del buffer[:size]
            yield chunk
    if buffer:
        yield bytes(buffer)


class StreamDigest:
    """The running size and SHA-256 of the bytes that pass through feed()."""

    def __init__(self) -> None:
        self.size = 0
        self._hash = hashlib.sha256()

    def feed(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Yield the chunks unchanged while counting and hashing them."""
        for chunk in chunks:
            self._hash.update(chunk)
            self.size += len(chunk)
            yield chunk

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of everything fed so far."""
        return self._hash.hexdigest()
