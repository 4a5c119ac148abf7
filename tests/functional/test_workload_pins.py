"""A workload's environment holds exactly its package's pins: the model server and SDK add no requirement."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from platform_sdk._client import ApiClient
from platform_sdk.models import ModelClient

from canopy.roles import Role
from canopy.runtime.backends import Backends
from tests.deploy_helpers import deploy, running_platform, zip_package

# requests 2.27.1 with its own dependencies pinned: the SDK used to add requests>=2.28, which clashed.
PINS = [
    "requests==2.27.1",
    "urllib3==1.26.8",
    "idna==3.3",
    "certifi==2021.10.8",
    "charset-normalizer==2.0.12",
]
MANIFEST = {
    "name": "pinned-env",
    "version": "1.0.0",
    "framework": "python",
    "model_class": "model.py:Installed",
    "inputs": [{"name": "probe", "type": "string"}],
    "outputs": [{"name": "installed", "type": "object"}, {"name": "requests", "type": "string"}],
    "requirements": PINS,
}
MODEL = '''"""Reports what is installed in the environment it runs in."""

import importlib.metadata


class Installed:
    """A pure Python model: no numpy, no framework."""

    def load(self, path):
        """Nothing to load."""

    def predict(self, inputs):
        """Every installed distribution, and the version of requests that imports."""
        import requests

        found = {}
        for dist in importlib.metadata.distributions():
            found[dist.metadata["Name"].lower().replace("_", "-")] = dist.version
        return {"installed": found, "requests": requests.__version__}
'''


def pinned_package(tmp_path: Path) -> bytes:
    """A zip of the pure Python model that lists its environment, pinning requests 2.27.1."""
    folder = tmp_path / "pinned"
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps(MANIFEST))
    (folder / "model.py").write_text(MODEL)
    return zip_package(folder)


def test_the_workload_env_holds_exactly_the_packages_pins(
    backends: Backends, canopy_home: Path, issue_token: Callable[[Role], str], tmp_path: Path
) -> None:
    with running_platform(backends, canopy_home, "process") as gateway:
        api = ApiClient(gateway.url, issue_token(Role.AI_DEVELOPER))
        model_id, view = deploy(api, pinned_package(tmp_path))
        assert view["status"] == "ready", view
        answer = ModelClient(api).call(model_id, {"probe": "versions"})
    assert answer["requests"] == "2.27.1"
    pins = dict(pin.split("==") for pin in PINS)
    assert {name: answer["installed"].get(name) for name in pins} == pins
    extra = set(answer["installed"]) - set(pins) - {"pip", "setuptools"}
    assert not extra, f"the platform installed requirements of its own: {sorted(extra)}"
