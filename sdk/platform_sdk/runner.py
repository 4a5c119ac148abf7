"""Start an app inside its workload: `python -m platform_sdk.runner ENTRY`, from the app's package folder.

ENTRY is what the app's manifest names: 'file.py' (run as a script), 'module' (run as __main__) or
'module:function' (imported, then called without arguments). The package folder is the current
directory and sys.path[0], as if the app had been started there with `python file.py`.
"""

from __future__ import annotations

import importlib
import os
import runpy
import sys
from pathlib import Path

USAGE = "usage: python -m platform_sdk.runner ENTRY  ('file.py', 'module' or 'module:function')"


def script_path(package: Path, entry: str) -> Path:
    """The script `entry` names inside the package; SystemExit when it is missing or outside it."""
    script = (package / entry).resolve()
    if not script.is_relative_to(package.resolve()) or not script.is_file():
        raise SystemExit(f"the app's entry {entry!r} is not a file inside its package")
    return script


def run(entry: str, package: Path) -> None:
    """Run the entry of the app whose package is `package`."""
    if sys.path and sys.path[0] in ("", os.getcwd(), str(package)):
        sys.path[0] = str(package)
    else:
        sys.path.insert(0, str(package))
    if entry.endswith(".py"):
        script = script_path(package, entry)
        sys.argv = [str(script)]
        runpy.run_path(str(script), run_name="__main__")
        return
    module, _, function = entry.partition(":")
    if not function:
        sys.argv = [module]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return
    target = getattr(importlib.import_module(module), function, None)
    if not callable(target):
        raise SystemExit(f"the app's entry {entry!r}: {module} has no function {function}")
    sys.argv = [entry]
    target()


def main(argv: list[str]) -> None:
    """Run the one ENTRY argument from the current directory."""
    if len(argv) != 1 or not argv[0]:
        raise SystemExit(USAGE)
    run(argv[0], Path.cwd())


if __name__ == "__main__":
    main(sys.argv[1:])
