"""The SDK and model server import nothing outside the standard library, so they can never clash with pins."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.model_servers import REPO

SDK = REPO / "sdk" / "platform_sdk"
MODULES = sorted(
    ".".join(path.relative_to(SDK.parent).with_suffix("").parts).removesuffix(".__init__")
    for path in SDK.rglob("*.py")
)
# Imported inside functions only, and only for a workload whose own requirements bring them: the model
# server's framework adapters and the app database handle.
WORKLOAD_LIBRARIES = {"joblib", "keras", "numpy", "pymongo", "sklearn"}
# Imports the modules with every non-standard-library top-level package blocked, then lists canopy's modules.
PROBE = """
import importlib, sys

class Block:
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top not in sys.stdlib_module_names and top != "platform_sdk":
            raise ImportError(f"{name} is not in the standard library")

sys.meta_path.insert(0, Block())
for module in sys.argv[1:]:
    importlib.import_module(module)
print(" ".join(sorted(name for name in sys.modules if name.partition(".")[0] in ("canopy", "services"))))
"""


def _imports(tree: ast.AST) -> list[tuple[str, bool]]:
    """Each top-level package a module imports, and whether the import sits at module level."""
    found: list[tuple[str, bool]] = []
    nested = {
        id(node)
        for scope in ast.walk(tree)
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef))
        for node in ast.walk(scope)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name.partition(".")[0], id(node) not in nested) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.partition(".")[0], id(node) not in nested))
    return found


def test_every_sdk_module_imports_only_the_standard_library_and_itself() -> None:
    assert "platform_sdk.devices" in MODULES and "platform_sdk.serving.app" in MODULES
    problems = []
    for path in sorted(SDK.rglob("*.py")):
        for top, module_level in _imports(ast.parse(path.read_text(), str(path))):
            if top in sys.stdlib_module_names or top == "platform_sdk":
                continue
            if top in WORKLOAD_LIBRARIES and not module_level:
                continue
            problems.append(f"{path.relative_to(REPO)} imports {top}")
    assert problems == []


def test_the_sdk_and_model_server_import_only_the_standard_library() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *MODULES],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": f"{REPO}:{REPO / 'sdk'}"},
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == []


def test_the_walk_sees_imports_inside_functions() -> None:
    tree = ast.parse("import os\ndef f():\n    import numpy\n    from canopy.errors import X\n")
    assert _imports(tree) == [("os", True), ("numpy", False), ("canopy", False)]


def test_canopy_errors_are_the_sdk_errors() -> None:
    import platform_sdk.errors

    from canopy import errors

    assert errors.CanopyError is platform_sdk.errors.CanopyError
    assert errors.ValidationFailed is platform_sdk.errors.ValidationFailed
