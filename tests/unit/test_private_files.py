"""Platform-private files: the tightening plan, private creation and the PostgreSQL URL helpers."""

from __future__ import annotations

import stat
from pathlib import Path

from bootstrap.infra.postgres import database_url, ensure_role_sql, generate_password
from canopy.private import (
    Tightening,
    create_private_file,
    make_private_dir,
    plan_tightening,
    secure_home,
    write_private_file,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_plan_makes_files_0600_and_directories_0700_and_skips_links() -> None:
    entries = [
        (Path("/h"), stat.S_IFDIR | 0o755),
        (Path("/h/bus.db"), stat.S_IFREG | 0o644),
        (Path("/h/keys"), stat.S_IFDIR | 0o700),
        (Path("/h/key"), stat.S_IFREG | 0o600),
        (Path("/h/link"), stat.S_IFLNK | 0o777),
        (Path("/h/odd"), stat.S_IFREG | 0o400),
    ]
    assert plan_tightening(entries) == [
        Tightening(Path("/h"), 0o755, 0o700),
        Tightening(Path("/h/bus.db"), 0o644, 0o600),
        Tightening(Path("/h/odd"), 0o400, 0o600),
    ]
    assert Tightening(Path("/h"), 0o755, 0o700).describe() == "mode 0755 -> 0700"


def test_new_directories_are_0700_but_existing_parents_keep_their_mode(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    make_private_dir(tmp_path / "a" / "b")
    assert (_mode(tmp_path), _mode(tmp_path / "a"), _mode(tmp_path / "a" / "b")) == (0o755, 0o700, 0o700)


def test_private_files_are_0600_when_created_or_replaced(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.write_text("x")
    loose.chmod(0o644)
    create_private_file(loose)
    create_private_file(tmp_path / "new" / "file")
    write_private_file(tmp_path / "secret", b"s3cret")
    assert [_mode(p) for p in (loose, tmp_path / "new" / "file", tmp_path / "secret")] == [0o600] * 3
    assert (tmp_path / "secret").read_bytes() == b"s3cret" and loose.read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loose", "new", "secret"]


def test_secure_home_tightens_private_trees_but_not_workload_trees(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for directory in ("keys", "blobs/objects", "envs/abc", "agents/local"):
        (home / directory).mkdir(parents=True)
    files = [
        "bus.db",
        "keys/node-commands.key",
        "blobs/objects/pkg",
        "envs/abc/lib.py",
        "agents/local/ledger.json",
    ]
    for name in files:
        (home / name).write_text("x")
        (home / name).chmod(0o644)
    home.chmod(0o755)
    changed = {str(change.path.relative_to(home)) for change in secure_home(home)}
    assert changed == {".", "bus.db", "keys", "keys/node-commands.key", "blobs", "blobs/objects"} | {
        "blobs/objects/pkg",
        "agents/local/ledger.json",
    }
    assert _mode(home / "envs/abc/lib.py") == 0o644
    assert secure_home(home) == []


def test_postgres_role_sql_quotes_the_password_and_urls_hide_it() -> None:
    first, exists = ensure_role_sql("it's")
    assert "PASSWORD 'it''s'" in first and "canopy" in exists
    password = generate_password()
    assert password != generate_password() and len(password) >= 24
    assert database_url(password, 5433) == f"postgresql://canopy:{password}@127.0.0.1:5433/canopy"
    assert database_url(password, reveal=False) == "postgresql://canopy:***@127.0.0.1:5432/canopy"
