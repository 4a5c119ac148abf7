"""Extract uploaded zip archives safely: every entry is checked before, and counted while, it is written.

Refused: anything that is not a zip, empty archives, absolute paths, drive letters, '..' or '.'
segments, backslashes, NUL bytes, symlinks and other special files, encrypted entries, duplicate or
case-colliding names, a file that is also a directory, over-long names, too many entries, and sizes
or compression ratios over the limits. Sizes are enforced on the bytes actually decompressed, so a
header that understates its size does not help. On any refusal the destination is removed whole.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from canopy.errors import ArchiveTooLarge, BadArchive

CHUNK = 256 * 1024
DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
RATIO_CHECK_FLOOR = 1024 * 1024


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps applied while extracting."""

    max_entries: int = 2000
    max_total_bytes: int = 512 * 1024 * 1024
    max_ratio: float = 200.0
    max_segment_bytes: int = 255
    max_path_chars: int = 1024


def extract_zip(
    source: bytes | BinaryIO | Path, destination: Path, limits: ArchiveLimits | None = None
) -> list[str]:
    """Extract into a new or empty `destination`; return the extracted file names, sorted."""
    limits = limits or ArchiveLimits()
    if destination.exists() and any(destination.iterdir()):
        raise ValueError(f"{destination} must be empty")
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with _open_zip(source) as archive:
            members = _checked_members(archive, limits)
            return _write_members(archive, members, destination, limits)
    except BaseException:
        shutil.rmtree(destination, ignore_errors=True)
        raise


def zip_directory(directory: Path, target: Path) -> None:
    """Zip a package folder's files (paths relative to it); symbolic links are refused."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_symlink():
                raise BadArchive(f"{path} is a symbolic link; a package cannot hold links")
            if path.is_file():
                archive.write(path, path.relative_to(directory).as_posix())


@contextmanager
def package_zip(path: Path) -> Iterator[Path]:
    """The zip to upload: `path` itself, or a temporary zip of `path` when it is a folder."""
    if not path.is_dir():
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="canopy-package-") as scratch:
        target = Path(scratch) / "package.zip"
        zip_directory(path, target)
        yield target


def _open_zip(source: bytes | BinaryIO | Path) -> zipfile.ZipFile:
    handle: BinaryIO | Path = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        return zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise BadArchive(f"the upload is not a valid zip archive ({exc})") from exc


def _checked_members(archive: zipfile.ZipFile, limits: ArchiveLimits) -> list[zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise ArchiveTooLarge(f"the archive has {len(infos)} entries; the limit is {limits.max_entries}")
    files = [info for info in infos if not info.is_dir()]
    if not files:
        raise BadArchive("the archive is empty")
    seen: dict[str, str] = {}
    for info in infos:
        path = _check_name(info.filename, limits)
        _check_kind(info)
        folded = str(path).casefold()
        if folded in seen and not (info.is_dir() and seen[folded].endswith("/")):
            raise BadArchive(f"entry {info.filename!r} duplicates {seen[folded]!r}")
        seen[folded] = info.filename
    _check_file_directory_clashes(infos)
    declared = sum(info.file_size for info in files)
    if declared > limits.max_total_bytes:
        raise ArchiveTooLarge(
            f"the archive expands to {declared} bytes; the limit is {limits.max_total_bytes}"
        )
    return infos


def _check_name(name: str, limits: ArchiveLimits) -> PurePosixPath:
    problem = None
    stripped = name.rstrip("/")
    if not stripped:
        problem = "an empty name"
    elif "\x00" in name or "\\" in name:
        problem = "a NUL or backslash in its name"
    elif name.startswith("/") or DRIVE_LETTER.match(name):
        problem = "an absolute path"
    elif len(name) > limits.max_path_chars:
        problem = f"a name longer than {limits.max_path_chars} characters"
    else:
        segments = stripped.split("/")
        if {"", ".", ".."} & set(segments):
            problem = "an empty, '.' or '..' path segment"
        elif any(len(s.encode()) > limits.max_segment_bytes for s in segments):
            problem = f"a path segment longer than {limits.max_segment_bytes} bytes"
    if problem:
        raise BadArchive(f"entry {name[:200]!r} has {problem}")
    return PurePosixPath(stripped)


def _check_kind(info: zipfile.ZipInfo) -> None:
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise BadArchive(f"entry {info.filename!r} is a symbolic link; links are not allowed")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise BadArchive(f"entry {info.filename!r} is a special file; only files and folders are allowed")
    if info.flag_bits & 0x1:
        raise BadArchive(f"entry {info.filename!r} is encrypted; upload an unencrypted archive")


def _check_file_directory_clashes(infos: list[zipfile.ZipInfo]) -> None:
    files = {info.filename.casefold() for info in infos if not info.is_dir()}
    for info in infos:
        for parent in PurePosixPath(info.filename.rstrip("/")).parents:
            if str(parent) != "." and str(parent).casefold() in files:
                raise BadArchive(f"entry {info.filename!r} is inside {str(parent)!r}, which is a file")


def _write_members(
    archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], destination: Path, limits: ArchiveLimits
) -> list[str]:
    root = destination.resolve()
    written_total = 0
    names = []
    for info in members:
        target = root / info.filename.rstrip("/")
        if root not in target.resolve().parents and target.resolve() != root:
            raise BadArchive(f"entry {info.filename!r} escapes the archive")
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(descriptor, "wb") as out:
            for chunk in _read_member(archive, info):
                written += len(chunk)
                written_total += len(chunk)
                _check_growth(info, written, written_total, limits)
                out.write(chunk)
        names.append(info.filename)
    return sorted(names)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    try:
        with archive.open(info) as member:
            while chunk := member.read(CHUNK):
                yield chunk
    except (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError, OSError) as exc:
        raise BadArchive(f"entry {info.filename!r} is corrupt or unsupported ({exc})") from exc


def _check_growth(info: zipfile.ZipInfo, written: int, written_total: int, limits: ArchiveLimits) -> None:
    if written > info.file_size:
        raise BadArchive(f"entry {info.filename!r} is larger than its header declares")
    if written_total > limits.max_total_bytes:
        raise ArchiveTooLarge(f"the archive expands past the limit of {limits.max_total_bytes} bytes")
    if written > RATIO_CHECK_FLOOR and written / max(info.compress_size, 1) > limits.max_ratio:
        raise ArchiveTooLarge(
            f"entry {info.filename!r} has a compression ratio over {limits.max_ratio:.0f}:1"
        )
