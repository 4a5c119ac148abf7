"""The safe extractor refuses every archive in the attack corpus and leaves nothing behind."""

from __future__ import annotations

import io
import stat
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from canopy.archive import ArchiveLimits, extract_zip
from canopy.errors import ArchiveTooLarge, BadArchive


def build(
    entries: list[tuple[str | zipfile.ZipInfo, bytes]], compression: int = zipfile.ZIP_DEFLATED
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def encrypted(name: str) -> bytes:
    data = bytearray(build([(name, b"secret")], zipfile.ZIP_STORED))
    for offset in (0, data.rfind(b"PK\x01\x02")):
        flag_at = offset + (6 if offset == 0 else 8)
        data[flag_at] |= 0x1
    return bytes(data)


def understated() -> bytes:
    data = bytearray(build([("big.bin", b"A" * 5000)], zipfile.ZIP_STORED))
    central = data.rfind(b"PK\x01\x02")
    data[22:26] = (10).to_bytes(4, "little")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    return bytes(data)


def corrupt_crc() -> bytes:
    data = bytearray(build([("a.txt", b"hello world")], zipfile.ZIP_STORED))
    data[data.find(b"hello")] ^= 0xFF
    return bytes(data)


CORPUS: dict[str, tuple[Callable[[], bytes], type[Exception], str]] = {
    "not a zip": (lambda: b"this is not a zip", BadArchive, "not a valid zip"),
    "polyglot text": (lambda: b"PK\x03\x04garbage", BadArchive, "not a valid zip"),
    "empty": (lambda: build([]), BadArchive, "empty"),
    "only folders": (lambda: build([("dir/", b"")]), BadArchive, "empty"),
    "parent traversal": (lambda: build([("../evil.txt", b"x")]), BadArchive, "'..'"),
    "nested traversal": (lambda: build([("a/../../evil.txt", b"x")]), BadArchive, "'..'"),
    "absolute path": (lambda: build([("/etc/passwd", b"x")]), BadArchive, "absolute"),
    "drive letter": (lambda: build([("C:/windows/x", b"x")]), BadArchive, "absolute"),
    "backslash": (lambda: build([("..\\evil.txt", b"x")]), BadArchive, "backslash"),
    "symlink": (lambda: build([symlink("link", "/etc/passwd")]), BadArchive, "symbolic link"),
    "duplicate": (lambda: build([("a.txt", b"1"), ("a.txt", b"2")]), BadArchive, "duplicates"),
    "case collision": (lambda: build([("A.txt", b"1"), ("a.txt", b"2")]), BadArchive, "duplicates"),
    "file is a folder": (lambda: build([("a", b"1"), ("a/b", b"2")]), BadArchive, "which is a file"),
    "long segment": (lambda: build([("x" * 300, b"1")]), BadArchive, "longer than 255"),
    "encrypted": (lambda: encrypted("secret.txt"), BadArchive, "encrypted"),
    "understated size": (understated, BadArchive, "larger than its header|corrupt"),
    "bad crc": (corrupt_crc, BadArchive, "corrupt"),
    "too many entries": (lambda: build([(f"f{n}", b"") for n in range(2001)]), ArchiveTooLarge, "entries"),
    "bomb": (lambda: build([(f"z{n}", b"\0" * (2 << 20)) for n in range(3)]), ArchiveTooLarge, "ratio"),
}


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_corpus_is_refused_and_nothing_is_left(case: str, tmp_path: Path) -> None:
    make, error, reason = CORPUS[case]
    destination = tmp_path / "workspace"
    with pytest.raises(error, match=reason):
        extract_zip(make(), destination)
    assert not destination.exists()
    assert list(tmp_path.iterdir()) == []


def test_total_size_is_counted_while_extracting(tmp_path: Path) -> None:
    archive = build([("a", b"x" * 4000), ("b", b"y" * 4000)], zipfile.ZIP_STORED)
    with pytest.raises(ArchiveTooLarge, match="expands to"):
        extract_zip(archive, tmp_path / "w", ArchiveLimits(max_total_bytes=6000))


def test_good_archive_extracts_files_and_folders(tmp_path: Path) -> None:
    archive = build([("pkg/", b""), ("pkg/model.json", b"{}"), ("pkg/sub/hook.py", b"x = 1\n")])
    names = extract_zip(archive, tmp_path / "w")
    assert names == ["pkg/model.json", "pkg/sub/hook.py"]
    assert (tmp_path / "w/pkg/sub/hook.py").read_text() == "x = 1\n"


def test_just_under_the_limits_is_accepted(tmp_path: Path) -> None:
    limits = ArchiveLimits(max_entries=3, max_total_bytes=300)
    archive = build([(f"f{n}", b"z" * 100) for n in range(3)])
    assert len(extract_zip(archive, tmp_path / "w", limits)) == 3


def test_destination_must_be_empty(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="must be empty"):
        extract_zip(build([("a", b"1")]), tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine"
