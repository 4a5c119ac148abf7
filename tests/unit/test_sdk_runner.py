"""The SDK's app runner starts 'file.py', 'module' and 'module:function' entries from the package folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.model_servers import REPO

REPORT = "import os, sys\nprint(__name__, os.getcwd() == sys.path[0])\n"


def _run(package: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(REPO / "sdk"), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "platform_sdk.runner", *argv]
    return subprocess.run(
        command, cwd=package, env=env, capture_output=True, text=True, timeout=30, check=False
    )


@pytest.fixture()
def package(tmp_path: Path) -> Path:
    """An app folder with a script, a module and a module holding a function."""
    (tmp_path / "main.py").write_text(REPORT)
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "job.py").write_text("import helper\nhelper.go()\n")
    (tmp_path / "helper.py").write_text("def go():\n    print('helper reached')\n")
    (tmp_path / "svc.py").write_text(REPORT + "def serve():\n    print('served')\n")
    return tmp_path


@pytest.mark.parametrize(
    ("entry", "printed"),
    [
        ("main.py", "__main__ True"),
        ("scripts/job.py", "helper reached"),  # the package folder is sys.path[0], not the script's
        ("main", "__main__ True"),
        ("svc:serve", "svc True\nserved"),
    ],
)
def test_entries_run(package: Path, entry: str, printed: str) -> None:
    result = _run(package, entry)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == printed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["../outside.py"], "not a file inside its package"),
        (["missing.py"], "not a file inside its package"),
        (["svc:nothing"], "svc has no function nothing"),
        ([], "usage:"),
        (["a", "b"], "usage:"),
    ],
)
def test_bad_entries_are_refused(package: Path, argv: list[str], message: str) -> None:
    (package.parent / "outside.py").write_text("print('escaped')\n")
    result = _run(package, *argv)
    assert result.returncode == 1 and message in result.stderr and "escaped" not in result.stdout
