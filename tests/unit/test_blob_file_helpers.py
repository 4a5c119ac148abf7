"""Blob key validation, chunking and digests shared by the drivers, and file:// URL roots."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from canopy.blob.base import StreamDigest, iter_chunks, validate_key
from canopy.blob.file import FileBlobStore
from canopy.errors import BadRequest, ConfigError


@pytest.mark.parametrize("key", ["a", "models/v1/model.onnx", ".hidden/x", "a..b", "k" * 1024])
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "empty"),
        ("k" * 1025, "longer than 1024"),
        ("/a", "starts with '/'"),
        ("a\\b", "backslash"),
        ("a\x00", "NUL"),
        ("a/../b", "'..' segment"),
        ("./a", "'.' or"),
        ("a//b", "empty,"),
        ("a/", "empty,"),
    ],
)
def test_invalid_keys(key: str, problem: str) -> None:
    with pytest.raises(BadRequest, match=problem):
        validate_key(key)


@pytest.mark.parametrize(
    "source",
    [
        lambda data: data,
        lambda data: io.BytesIO(data),
        lambda data: (data[i : i + 7] for i in range(0, len(data), 7)),
        lambda data: [data[:3], b"", data[3:]],
    ],
    ids=["bytes", "file", "small-pieces", "uneven"],
)
def test_iter_chunks_recuts_every_source(source: Callable[[bytes], Any]) -> None:
    data = bytes(range(256)) * 10
    chunks = list(iter_chunks(source(data), size=100))
    assert b"".join(chunks) == data
    assert [len(chunk) for chunk in chunks] == [100] * 25 + [60]
    assert list(iter_chunks(b"", size=100)) == []


def test_stream_digest_passes_chunks_through() -> None:
    digest = StreamDigest()
    assert list(digest.feed([b"ab", b"c"])) == [b"ab", b"c"]
    assert (digest.size, digest.sha256) == (3, hashlib.sha256(b"abc").hexdigest())


def test_file_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert FileBlobStore(f"file://{tmp_path}/a%20b").root == tmp_path / "a b"
    assert FileBlobStore("file://rel/dir").root == tmp_path / "rel" / "dir"
    with pytest.raises(ConfigError, match="no directory"):
        FileBlobStore("file://")


def test_stale_checksum_files_are_recomputed(tmp_path: Path) -> None:
    store = FileBlobStore(f"file://{tmp_path}")
    store.put("k", b"old")
    (tmp_path / "objects" / "k").write_bytes(b"changed behind the store's back")
    assert store.info("k").sha256 == hashlib.sha256(b"changed behind the store's back").hexdigest()
    assert store.list()[0].sha256 == store.info("k").sha256
