"""Platform-private files: directories 0700 and files 0600, created that way and tightened at start."""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
# Sub-trees of CANOPY_HOME holding platform secrets or state, tightened as a whole at start (with the
# files directly in the home and the agents' ledgers). The others (packages/, envs/, wheels/, sdk/,
# agents/<node>/ workload trees, infra/ engine data) are handed to workloads or engines and keep the
# modes their owners give them; the 0700 home shuts every other uid out of them all the same.
PRIVATE_TREES = ("keys", "blobs")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tightening:
    """One mode change: the path, its mode before and the mode it gets."""

    path: Path
    before: int
    after: int

    def describe(self) -> str:
        """'mode 0644 -> 0600', for the start-up log."""
        return f"mode {self.before:04o} -> {self.after:04o}"


def tightened_mode(mode: int) -> int:
    """The private mode for an entry of st_mode `mode`: 0700 for directories, 0600 for everything else."""
    return PRIVATE_DIR if stat.S_ISDIR(mode) else PRIVATE_FILE


def plan_tightening(entries: Iterable[tuple[Path, int]]) -> list[Tightening]:
    """The changes that make every (path, st_mode) private; entries already private need none."""
    changes = []
    for path, mode in entries:
        if stat.S_ISLNK(mode):
            continue
        wanted = tightened_mode(mode)
        if stat.S_IMODE(mode) != wanted:
            changes.append(Tightening(path, stat.S_IMODE(mode), wanted))
    return changes


def make_private_dir(path: Path) -> Path:
    """Create `path` and any missing parents as 0700; existing directories are left as they are."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue
        os.chmod(directory, PRIVATE_DIR)
    return path


def restrict(path: Path) -> Tightening | None:
    """Make one existing file 0600 (a directory 0700), logging the change; None if it was private."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return None
    changes = _apply(plan_tightening([(path, mode)]))
    return changes[0] if changes else None


def create_private_file(path: Path) -> Path:
    """Create `path` empty as 0600 if it is missing, or restrict an existing one to 0600."""
    make_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE)
    except FileExistsError:
        restrict(path)
        return path
    os.fchmod(fd, PRIVATE_FILE)
    os.close(fd)
    return path


def secure_sqlite_file(path: Path) -> Path:
    """Create an SQLite database file as 0600 before SQLite opens it (its -wal and -shm follow its mode)."""
    create_private_file(path)
    for suffix in SQLITE_COMPANIONS:
        restrict(path.with_name(path.name + suffix))
    return path


def write_private_file(path: Path, data: bytes) -> None:
    """Replace `path` atomically with `data`, readable and writable by the platform's user only."""
    make_private_dir(path.parent)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _home_entries(home: Path) -> Iterator[tuple[Path, int]]:
    """CANOPY_HOME itself, the files directly in it and everything in its private trees, with modes."""
    yield home, home.lstat().st_mode
    for entry in home.iterdir():
        if entry.is_file() and not entry.is_symlink():
            yield entry, entry.lstat().st_mode
    for ledger in home.glob("agents/*/ledger.json"):
        yield ledger, ledger.lstat().st_mode
    for name in PRIVATE_TREES:
        tree = home / name
        if not tree.is_dir() or tree.is_symlink():
            continue
        yield tree, tree.lstat().st_mode
        for root, dirs, files in os.walk(tree):
            for child in (*dirs, *files):
                entry = Path(root) / child
                yield entry, entry.lstat().st_mode


def secure_home(home: Path) -> list[Tightening]:
    """Create CANOPY_HOME as 0700, or tighten an existing one and its private files; log each change."""
    make_private_dir(home)
    return _apply(plan_tightening(_home_entries(home)))


def _apply(changes: list[Tightening]) -> list[Tightening]:
    """Carry out planned mode changes, logging each one."""
    for change in changes:
        os.chmod(change.path, change.after)
        log.warning("made %s private: %s", change.path, change.describe())
    return changes
