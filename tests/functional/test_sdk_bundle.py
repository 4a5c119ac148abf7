"""The SDK bundle a workload gets works alone: no canopy, no third-party package, Python 3.11 and 3.9.

The bundle made by sdk_bundle runs with `python -I -S` (no site-packages, no PYTHONPATH) on the host's
Python 3.11 and inside the bullseye (Python 3.9) root filesystem through the process sandbox, as an app
instance calling a fake gateway on 127.0.0.1 (the process sandbox shares the host network).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import platform_sdk
import pytest

from canopy.config import load_config
from canopy.workloads import builder
from canopy.workloads.builder import sdk_bundle, shared_sdk
from canopy.workloads.rootfs import ensure_rootfs
from canopy.workloads.sandbox import SDK, Sandbox, bwrap_argv
from tests.fake_gateway import TOKEN, GatewayState, fake_gateway, legacy_state

pytestmark = pytest.mark.timeout(600)

# Imports every module of the bundle, runs as an app instance (the original index calls, name calls),
# then lists every module loaded from outside the standard library and the bundle.
SCRIPT = """
import importlib, json, pkgutil, sys, sysconfig
BUNDLE = sys.argv[1]
sys.path.insert(0, BUNDLE)
import platform_sdk as sdk

out = {"version": list(sys.version_info[:2])}
out["modules"] = [m.name for m in pkgutil.walk_packages(sdk.__path__, "platform_sdk.")]
for name in out["modules"]:
    importlib.import_module(name)
out["exports"] = [name for name in sdk.__all__ if not callable(getattr(sdk, name))]
out["temp"] = sdk.get_sensor_data(0)
out["pressure"] = sdk.get_sensor_data(1)
out["display"] = sdk.send_controller_data(0, "Sun")
out["alarm"] = sdk.send_controller_data("alarm", "beep", seconds=1)
out["prediction"] = sdk.get_prediction(0, {"temp": 21.0, "pressure": 1013.0})
out["forecast"] = sdk.model_call("forecast", {"t": 1})
out["notified"] = sdk.notify("Weather", "Sun")
sdk.get_logger("script1").info("counted")
try:
    sdk.get_sensor_data("fan")
except sdk.NotFound as exc:
    out["unknown"] = str(exc)
stdlib = sysconfig.get_paths()["stdlib"]
out["foreign"] = sorted(
    name for name, module in sys.modules.items()
    if getattr(module, "__file__", None) and not module.__file__.startswith((stdlib, BUNDLE))
)
print(json.dumps(out))
"""


@pytest.fixture()
def bundle(tmp_path: Path) -> Path:
    made = sdk_bundle(tmp_path / "sdk")
    assert sorted(p.name for p in made.iterdir()) == ["platform_sdk"]
    return made


@pytest.fixture()
def gateway() -> Iterator[tuple[str, GatewayState]]:
    state = legacy_state()
    state.queued["temp-1"].append({"data": 21.0})
    state.queued["press-1"].append({"alpha": 7, "zeta": 1013.0})
    with fake_gateway(state) as url:
        yield url, state


def _environment(url: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "CANOPY_API_URL": url,
        "CANOPY_TOKEN": TOKEN,
        "CANOPY_INSTANCE_ID": "i0123456789",
    }


def _check(result: subprocess.CompletedProcess[str], state: GatewayState, python: list[int]) -> None:
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    assert out["version"] == python
    assert out["foreign"] == []
    assert "platform_sdk.database" in out["modules"] and "platform_sdk.serving.app" in out["modules"]
    assert out["exports"] == []
    assert out["temp"] == 21.0 and out["pressure"] == [1013.0, 7]
    assert out["display"] == {"data": "Sun"} and out["alarm"] == {"seconds": 1}
    assert out["prediction"] == {"output": ["pressure", "temp"]}
    assert out["forecast"] == {"echo": {"t": 1}}
    assert out["notified"] == {"accepted": True}
    assert "its roles are: alarm, controller_0, sensor_0, sensor_1, sensor_2" in out["unknown"]
    log = json.loads(result.stderr.strip().splitlines()[-1])
    assert (log["source"], log["instance"], log["message"]) == ("script1", "i0123456789", "counted")
    assert state.commands == [
        ("display-1", {"command": "set", "params": {"data": "Sun"}}),
        ("buzzer-1", {"command": "beep", "params": {"seconds": 1}}),
    ]


def test_the_bundle_works_alone_on_the_host_python_3_11(
    bundle: Path, gateway: tuple[str, GatewayState]
) -> None:
    url, state = gateway
    assert sys.version_info[:2] == (3, 11)
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", SCRIPT, str(bundle)],
        capture_output=True,
        text=True,
        env=_environment(url),
        cwd="/",
        check=False,
        timeout=60,
    )
    _check(result, state, [3, 11])


def test_the_bundle_works_in_the_bullseye_python_3_9_sandbox(
    bundle: Path, gateway: tuple[str, GatewayState]
) -> None:
    url, state = gateway
    rootfs = ensure_rootfs(Path(load_config().rootfs_dir), "3.9")
    sandbox = Sandbox(
        rootfs=str(rootfs),
        read_only={SDK: str(bundle)},
        env=_environment(url),
        command=["python3", "-I", "-S", "-c", SCRIPT, SDK],
    )
    result = subprocess.run(
        bwrap_argv(sandbox), capture_output=True, text=True, env={}, check=False, timeout=120
    )
    _check(result, state, [3, 9])


def test_parallel_builds_copy_the_shared_bundle_once_without_racing(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        bundles = set(pool.map(lambda _: shared_sdk(tmp_path), range(8)))
    assert len(bundles) == 1 and [p.name for p in (tmp_path / "sdk").iterdir()] == [bundles.pop().name]
    copied = {p.name for p in next((tmp_path / "sdk").iterdir()).joinpath("platform_sdk").glob("*.py")}
    assert copied == {p.name for p in Path(platform_sdk.__file__).parent.glob("*.py")}


def test_a_changed_sdk_gets_a_new_bundle_and_the_old_one_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = shared_sdk(tmp_path)
    monkeypatch.setattr(builder, "_sdk_digest", lambda: "0123456789abcdef")
    second = shared_sdk(tmp_path)
    assert second == tmp_path / "sdk" / "0123456789abcdef" and first != second
    assert (first / "platform_sdk" / "__init__.py").is_file() and first.stat().st_mode & 0o777 == 0o755
