"""`python -m platform_sdk.serving` as a subprocess on every example package, as the deployer runs it."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.model_servers import EXAMPLES, ServerProcess, running_server


class Case(NamedTuple):
    """One example package, a good and a bad record, and what the good one must give."""

    package: Path
    needs: tuple[str, ...]
    good: dict[str, Any]
    expected: dict[str, Any]
    bad: dict[str, Any]
    bad_fields: set[str]


FAILING_FAN = {"rpm": 410.0, "vibration": 0.85, "temperature": 65.0, "sound": 78.0}
CASES = {
    "sklearn-iris": Case(
        EXAMPLES / "sklearn-iris" / "package",
        ("sklearn",),
        {"sepal_length": 6.5, "sepal_width": 3.0, "petal_length": 5.5, "petal_width": 2.0},
        {"species": "virginica"},
        {"sepal_length": "x", "sepal_width": 3.0, "petal_length": 5.5},
        {"sepal_length", "petal_width"},
    ),
    "fan-tflite": Case(
        EXAMPLES / "fan-anomaly" / "package",
        ("ai_edge_litert",),
        FAILING_FAN,
        {},
        FAILING_FAN | {"rpm": -5.0},
        {"rpm"},
    ),
    "fan-keras": Case(
        EXAMPLES / "fan-anomaly" / "package-keras",
        ("keras", "jax"),
        FAILING_FAN,
        {},
        FAILING_FAN | {"sound": "loud"},
        {"sound"},
    ),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def served(request: pytest.FixtureRequest) -> Iterator[tuple[Case, ServerProcess]]:
    case = CASES[request.param]
    missing = [name for name in case.needs if importlib.util.find_spec(name) is None]
    assert not missing, f"install the dev extras: {', '.join(missing)} missing"
    with running_server(case.package) as server:
        yield case, server


def model_name(case: Case) -> str:
    return str(json.loads((case.package / "model.json").read_text())["name"])


def test_health_predict_and_field_errors(served: tuple[Case, ServerProcess]) -> None:
    case, server = served
    assert requests.get(f"{server.url}/health", timeout=5).json()["status"] == "ready"
    outputs = requests.post(f"{server.url}/predict", json={"inputs": case.good}, timeout=5).json()["outputs"]
    assert outputs.items() >= case.expected.items()
    if not case.expected:
        assert outputs["failure_probability"] > 0.8
    bad = requests.post(f"{server.url}/predict", json={"inputs": case.bad}, timeout=5)
    assert bad.status_code == 400
    assert set(bad.json()["error"]["details"]) == case.bad_fields


def test_metrics_are_prometheus_text(served: tuple[Case, ServerProcess]) -> None:
    case, server = served
    assert requests.post(f"{server.url}/predict", json=case.good, timeout=5).status_code == 200
    response = requests.get(f"{server.url}/metrics", timeout=5)
    assert response.headers["Content-Type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    assert {family.type for family in families.values()} == {"counter", "histogram", "gauge"}
    for name in (
        "canopy_model_requests",
        "canopy_model_request_seconds",
        "canopy_model_inference_seconds",
        "canopy_model_request_bytes",
        "canopy_model_response_bytes",
        "process_resident_memory_bytes",
        "process_cpu_seconds",
    ):
        assert families[name].samples, name


def test_open_inference_protocol_v2(served: tuple[Case, ServerProcess]) -> None:
    case, server = served
    name = model_name(case)
    assert requests.get(f"{server.url}/v2/health/ready", timeout=5).json() == {"ready": True}
    assert requests.get(f"{server.url}/v2/health/live", timeout=5).json() == {"live": True}
    metadata = requests.get(f"{server.url}/v2/models/{name}", timeout=5).json()
    assert [tensor["name"] for tensor in metadata["inputs"]] == list(case.good)
    tensors = [
        {"name": field, "shape": [2], "datatype": "FP32", "data": [value, value]}
        for field, value in case.good.items()
    ]
    answer = requests.post(f"{server.url}/v2/models/{name}/infer", json={"inputs": tensors}, timeout=5).json()
    assert answer["model_name"] == name
    assert answer["outputs"] and all(output["shape"][0] == 2 for output in answer["outputs"])


def test_the_legacy_package_predicts() -> None:
    with running_server(EXAMPLES / "legacy-weather" / "package") as server:
        body = {"perc": 0.0, "temp_max": 25.0}
        assert requests.post(f"{server.url}/predict/legacy-id", json=body, timeout=5).json() == {
            "output": "Sun"
        }
        assert requests.post(f"{server.url}/predict", json={"perc": 3}, timeout=5).status_code == 400


def test_a_hook_raising_at_load_exits_non_zero_with_the_traceback(tmp_path: Path) -> None:
    package = shutil.copytree(EXAMPLES / "sklearn-iris" / "package", tmp_path / "package")
    (package / "pre.py").write_text(
        "def broken():\n    raise OSError('scaler.json is missing')\n\nbroken()\n"
    )
    manifest = json.loads((package / "model.json").read_text()) | {"preprocess": "pre.py:preprocess"}
    (package / "model.json").write_text(json.dumps(manifest))
    result = subprocess.run(
        [sys.executable, "-m", "platform_sdk.serving", "--package", str(package), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert result.stdout == ""
    assert "Traceback (most recent call last)" in result.stderr
    assert "OSError: scaler.json is missing" in result.stderr
    assert 'pre.py", line 2, in broken' in result.stderr
