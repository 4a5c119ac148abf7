"""The original platform's 2022 weather model, with its full 3.9-era pin set, deploys on the process runtime.

numpy 1.22.3 has no wheel for Python 3.11, so this needs the process runtime's Python 3.9 (the sandbox).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from platform_sdk._client import ApiClient
from platform_sdk._http import ConnectionPool
from platform_sdk.models import ModelClient

from canopy.roles import Role
from canopy.runtime.backends import Backends
from tests.deploy_helpers import LEGACY_2022_PACKAGE, deploy, running_platform, zip_package


def test_the_2022_weather_model_deploys_and_predicts_on_the_process_runtime(
    backends: Backends, canopy_home: Path, issue_token: Callable[[Role], str]
) -> None:
    with running_platform(backends, canopy_home, "process") as gateway:
        api = ApiClient(gateway.url, issue_token(Role.AI_DEVELOPER))
        model_id, view = deploy(api, zip_package(LEGACY_2022_PACKAGE), timeout=900)
        assert view["status"] == "ready", view
        assert ModelClient(api).call(model_id, {"perc": 0.5, "temp_max": 12}) == {"output": "Drizzle"}
        replica = ConnectionPool(view["endpoints"][0])
        body = b'{"perc": 0.5, "temp_max": 12}'
        answer = replica.request("POST", f"/predict/{model_id}", body, {"Content-Type": "application/json"})
        assert (answer.status, answer.body) == (200, b'{"output": "Drizzle"}')
