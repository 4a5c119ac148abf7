"""A service starting on a current schema recognises it without loading Alembic; a new one is migrated."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory

from canopy.store import SCRIPT_LOCATION, head_revisions

REPO = Path(__file__).resolve().parents[2]
CHECK = """
import sys
from canopy.store import open_store
store = open_store(sys.argv[1])
store.migrate()
print(sorted(store.revisions()), "alembic" in sys.modules)
"""


def test_the_heads_read_from_the_files_are_alembics() -> None:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    assert head_revisions() == set(ScriptDirectory.from_config(config).get_heads())


def test_a_current_schema_is_left_alone_without_importing_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/canopy.db"

    def run() -> str:
        env = {**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'sdk'}"}
        result = subprocess.run(
            [sys.executable, "-c", CHECK, url], capture_output=True, text=True, env=env, check=True
        )
        return result.stdout.strip()

    heads = sorted(head_revisions())
    assert run() == f"{heads} True", "an empty database is migrated by Alembic"
    assert run() == f"{heads} False", "a current one is recognised without it"
