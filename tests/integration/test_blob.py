"""canopy.blob against real backends: a temporary directory (file://) and Azurite (azure://)."""

from __future__ import annotations

import hashlib
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from canopy.blob import BlobStore, open_blob
from canopy.blob.base import CHUNK_SIZE
from canopy.config import Config, load_config
from canopy.errors import BadRequest, ConfigError, Conflict, NoSuchDriver, NotFound, Unavailable

LARGE_SIZE = 30 * 1024 * 1024
# Peak Python allocations allowed while streaming LARGE_SIZE bytes: bounded by the chunk (file)
# or by the 4 MiB block in flight plus the SDK's per-request buffers (azure), not by the size.
PEAK_LIMIT = {"file": 8 * 1024 * 1024, "azure": 16 * 1024 * 1024}
BAD_KEYS = ["", "/abs", "a/../b", "..", "a\\b", "a\x00b", "a//b", "a/", "k" * 1025]


def _config(tmp_path: Path, **settings: str) -> Config:
    environ = {"CANOPY_HOME": str(tmp_path / "home")}
    environ.update({f"CANOPY_{name.upper()}": value for name, value in settings.items()})
    return load_config(environ)


@pytest.fixture(params=["file", pytest.param("azure", marks=pytest.mark.azurite)])
def driver(request: pytest.FixtureRequest) -> str:
    """The scheme under test."""
    return str(request.param)


@pytest.fixture()
def azure(azurite_connection_string: str, tmp_path: Path) -> Iterator[tuple[BlobStore, ContainerClient]]:
    """A store on a new Azurite container, and an SDK client of that container; deleted afterwards."""
    name = f"test-{uuid.uuid4().hex}"
    store = open_blob(f"azure://{name}", _config(tmp_path, azure_connection_string=azurite_connection_string))
    container = BlobServiceClient.from_connection_string(azurite_connection_string).get_container_client(name)
    yield store, container
    container.delete_container()


@pytest.fixture()
def blob(driver: str, request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """An empty store: a new directory, or a new Azurite container."""
    if driver == "file":
        return open_blob(f"file://{tmp_path}/blobs")
    store: BlobStore = request.getfixturevalue("azure")[0]
    return store


@pytest.fixture(scope="module")
def large_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A LARGE_SIZE file of varied bytes and its SHA-256."""
    path = tmp_path_factory.mktemp("large") / "model.bin"
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        for index in range(LARGE_SIZE // CHUNK_SIZE):
            chunk = hashlib.sha256(str(index).encode()).digest() * (CHUNK_SIZE // 32)
            digest.update(chunk)
            handle.write(chunk)
    return path, digest.hexdigest()


def test_put_and_get_bytes(blob: BlobStore) -> None:
    info = blob.put("models/a.bin", b"hello")
    assert info.key == "models/a.bin" and info.size == 5
    assert info.sha256 == hashlib.sha256(b"hello").hexdigest()
    assert blob.get("models/a.bin") == b"hello"
    assert blob.info("models/a.bin") == info
    assert blob.put("empty", b"").size == 0 and blob.get("empty") == b""


def test_large_file_is_streamed_both_ways(blob: BlobStore, driver: str, large_file: tuple[Path, str]) -> None:
    path, expected = large_file
    tracemalloc.start()
    try:
        with path.open("rb") as handle:
            info = blob.put("models/large.bin", handle)
        put_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        digest, size = hashlib.sha256(), 0
        for chunk in blob.open("models/large.bin"):
            assert len(chunk) <= CHUNK_SIZE
            digest.update(chunk)
            size += len(chunk)
        get_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (info.size, info.sha256) == (LARGE_SIZE, expected)
    assert (size, digest.hexdigest()) == (LARGE_SIZE, expected)
    assert blob.info("models/large.bin") == info
    assert put_peak < PEAK_LIMIT[driver], f"put peaked at {put_peak} bytes"
    assert get_peak < PEAK_LIMIT[driver], f"open peaked at {get_peak} bytes"


def test_put_from_an_iterable(blob: BlobStore) -> None:
    pieces = [bytes([index % 256]) * (index * 37) for index in range(300)]
    info = blob.put("parts", iter(pieces))
    assert blob.get("parts") == b"".join(pieces)
    assert info.sha256 == hashlib.sha256(b"".join(pieces)).hexdigest()


def test_list_by_prefix_is_sorted(blob: BlobStore) -> None:
    for key in ["models/b/1", "models/a/2", "models/a/1", "models/ab", "other"]:
        blob.put(key, key.encode())
    assert [info.key for info in blob.list("models/a/")] == ["models/a/1", "models/a/2"]
    assert [info.key for info in blob.list("models/a")] == ["models/a/1", "models/a/2", "models/ab"]
    assert [info.key for info in blob.list()] == [
        "models/a/1",
        "models/a/2",
        "models/ab",
        "models/b/1",
        "other",
    ]
    assert blob.list("nothing/") == [] and blob.list("../") == []
    assert blob.list("other")[0].sha256 == hashlib.sha256(b"other").hexdigest()


def test_delete_is_idempotent_and_exists_follows(blob: BlobStore) -> None:
    blob.put("a/b", b"x")
    assert blob.exists("a/b") and not blob.exists("a") and not blob.exists("a/c")
    blob.delete("a/b")
    blob.delete("a/b")
    blob.delete("never/stored")
    assert not blob.exists("a/b")
    assert blob.list() == []
    blob.put("a", b"now a plain object")
    assert blob.get("a") == b"now a plain object"


def test_replace_overwrites_atomically(blob: BlobStore) -> None:
    old, new = b"1" * (CHUNK_SIZE // 2), b"2" * (CHUNK_SIZE // 3)
    blob.put("k", old)
    seen: set[bytes] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.add(blob.get("k"))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(10):
            blob.put("k", new)
            blob.put("k", old)
    finally:
        stop.set()
        reader.join()
    assert seen <= {old, new}
    blob.put("k", new)
    assert blob.get("k") == new and blob.info("k").size == len(new)


def test_a_failed_put_leaves_the_old_object(blob: BlobStore, tmp_path: Path, driver: str) -> None:
    blob.put("k", b"old")

    def broken() -> Iterator[bytes]:
        yield b"n" * (5 * CHUNK_SIZE)
        raise RuntimeError("upload source failed")

    with pytest.raises(RuntimeError):
        blob.put("k", broken())
    assert blob.get("k") == b"old"
    if driver == "file":
        assert list((tmp_path / "blobs" / "tmp").iterdir()) == []


def test_missing_keys_are_not_found(blob: BlobStore) -> None:
    for read in (blob.get, blob.info, blob.open):
        with pytest.raises(NotFound, match="nope"):
            read("nope")
    assert not blob.exists("nope")


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_bad_keys_are_bad_requests(blob: BlobStore, key: str) -> None:
    for call in (blob.get, blob.info, blob.exists, blob.delete, lambda k: blob.put(k, b"x")):
        with pytest.raises(BadRequest, match="Invalid blob key"):
            call(key)


def test_unreachable_azure_is_unavailable_quickly(tmp_path: Path) -> None:
    endpoint = "http://127.0.0.1:1/devstoreaccount1"
    config = _config(tmp_path, azure_account="devstoreaccount1", azure_key="a2V5", azure_endpoint=endpoint)
    started = time.monotonic()
    with pytest.raises(Unavailable, match=endpoint):
        open_blob("azure://artifacts", config)
    assert time.monotonic() - started < 15


def test_azure_without_credentials_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"CANOPY_AZURE_CONNECTION_STRING.*CANOPY_AZURE_ACCOUNT"):
        open_blob("azure://artifacts", _config(tmp_path))


def test_file_url_may_be_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    open_blob("file://relative/blobs").put("k", b"v")
    assert (tmp_path / "relative" / "blobs" / "objects" / "k").read_bytes() == b"v"


def test_typo_in_the_scheme_suggests_the_driver() -> None:
    with pytest.raises(NoSuchDriver, match=r"^No such blob driver 'fil'\. Did you mean 'file'\?$"):
        open_blob("fil:///tmp/blobs")


@pytest.mark.azurite
def test_azure_checksums_blobs_written_by_other_tools(azure: tuple[BlobStore, ContainerClient]) -> None:
    store, container = azure
    container.upload_blob("foreign/x", b"made elsewhere")
    expected = hashlib.sha256(b"made elsewhere").hexdigest()
    assert store.info("foreign/x").sha256 == expected
    assert store.list("foreign/")[0].sha256 == expected


@pytest.mark.azurite
def test_azure_read_across_a_replace_is_a_conflict(azure: tuple[BlobStore, ContainerClient]) -> None:
    store, _ = azure
    store.put("k", b"1" * (3 * CHUNK_SIZE))
    chunks = store.open("k")
    assert next(chunks) == b"1" * CHUNK_SIZE
    store.put("k", b"2" * (3 * CHUNK_SIZE))
    with pytest.raises(Conflict, match="replaced"):
        list(chunks)


@pytest.mark.azurite
def test_azure_with_a_wrong_key_is_a_config_error(azurite_connection_string: str, tmp_path: Path) -> None:
    endpoint = "http://127.0.0.1:10000/devstoreaccount1"
    config = _config(tmp_path, azure_account="devstoreaccount1", azure_key="a2V5", azure_endpoint=endpoint)
    with pytest.raises(ConfigError, match=r"refused the credentials.*CANOPY_AZURE_KEY"):
        open_blob("azure://artifacts", config)
