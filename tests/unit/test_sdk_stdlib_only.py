"""The SDK and model server import nothing outside the standard library, so they can never clash with pins."""

from __future__ import annotations

import subprocess
import sys

from tests.model_servers import REPO

MODULES = [
    "platform_sdk",
    "platform_sdk._client",
    "platform_sdk._http",
    "platform_sdk.models",
    "platform_sdk.runner",
    "platform_sdk.serving.__main__",
    "platform_sdk.serving.adapters",
    "platform_sdk.serving.app",
    "platform_sdk.serving.metrics",
    "platform_sdk.serving.oip",
    "platform_sdk.serving.pipeline",
    "platform_sdk.serving.schema",
    "platform_sdk.serving.server",
    "platform_sdk.serving.spec",
]
# Imports the modules with every non-standard-library top-level package blocked, then lists canopy's modules.
PROBE = """
import importlib, sys

class Block:
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top not in sys.stdlib_module_names and top not in ("platform_sdk", "canopy"):
            raise ImportError(f"{name} is not in the standard library")

sys.meta_path.insert(0, Block())
for module in sys.argv[1:]:
    importlib.import_module(module)
print(" ".join(sorted(name for name in sys.modules if name.partition(".")[0] == "canopy")))
"""


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
    assert result.stdout.split() == ["canopy", "canopy.config", "canopy.errors", "canopy.private"]
