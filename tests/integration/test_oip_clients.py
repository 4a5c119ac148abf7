"""Real Open Inference Protocol clients, in their default modes, against model server replicas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.model_servers import EXAMPLES, REPO, ServerProcess, running_server

IRIS_FIELDS = ("sepal_length", "sepal_width", "petal_length", "petal_width")
SETOSA = (5.1, 3.5, 1.4, 0.2)
VIRGINICA = (6.5, 3.0, 5.5, 2.0)
KSERVE_PYTHON = Path(sys.prefix) / "kserve" / "bin" / "python"  # `make install` puts the KServe SDK there
KSERVE_SCRIPT = REPO / "tests" / "clients" / "kserve_rest.py"
COUNTER = """
class Counter:
    def load(self, path):
        pass

    def predict(self, record):
        return {"doubled": record["count"] * 2, "shout": record["word"].upper() + "!"}
"""


@pytest.fixture(scope="module")
def iris() -> Iterator[ServerProcess]:
    with running_server(EXAMPLES / "sklearn-iris" / "package") as server:
        yield server


@pytest.fixture(scope="module")
def counter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    package: Path = tmp_path_factory.mktemp("counter")
    (package / "model.py").write_text(COUNTER)
    manifest = {
        "name": "counter",
        "version": "2",
        "framework": "python",
        "model_class": "model.py:Counter",
        "inputs": [{"name": "count", "type": "int"}, {"name": "word", "type": "string"}],
        "outputs": [{"name": "doubled", "type": "int"}, {"name": "shout", "type": "string"}],
    }
    (package / "model.json").write_text(json.dumps(manifest))
    with running_server(package) as server:
        yield server


def client(server: ServerProcess) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(f"127.0.0.1:{server.port}")


def iris_inputs(rows: np.ndarray) -> list[triton.InferInput]:
    inputs = []
    for column, name in enumerate(IRIS_FIELDS):
        tensor = triton.InferInput(name, [len(rows), 1], "FP32")
        tensor.set_data_from_numpy(rows[:, column : column + 1].astype(np.float32))
        inputs.append(tensor)
    return inputs


def test_tritonclient_health_and_metadata(iris: ServerProcess) -> None:
    triton_client = client(iris)
    assert triton_client.is_server_live() and triton_client.is_server_ready()
    assert triton_client.is_model_ready("iris") and triton_client.is_model_ready("iris", "1.0.0")
    assert "binary_tensor_data" in triton_client.get_server_metadata()["extensions"]
    metadata = triton_client.get_model_metadata("iris")
    assert metadata["versions"] == ["1.0.0"]
    assert [tensor["name"] for tensor in metadata["inputs"]] == list(IRIS_FIELDS)
    assert triton_client.get_model_metadata("iris", "1.0.0") == metadata


def test_tritonclient_infers_a_batch_of_64_fp32_rows_in_binary(iris: ServerProcess) -> None:
    rows = np.array([SETOSA, VIRGINICA] * 32)
    result = client(iris).infer("iris", iris_inputs(rows), request_id="batch-64")
    assert result.get_response()["id"] == "batch-64"
    species = result.as_numpy("species")
    assert species is not None and species.shape == (64,)
    assert [item.decode() for item in species[:2]] == ["setosa", "virginica"]
    probabilities = json.loads(result.as_numpy("probabilities")[0])
    assert probabilities["setosa"] > 0.9


def test_tritonclient_requested_outputs_in_json_or_binary(iris: ServerProcess) -> None:
    rows = np.array([VIRGINICA])
    outputs = [triton.InferRequestedOutput("species", binary_data=False)]
    result = client(iris).infer("iris", iris_inputs(rows), outputs=outputs, model_version="1.0.0")
    assert [output["name"] for output in result.get_response()["outputs"]] == ["species"]
    assert result.get_output("species")["data"] == ["virginica"]


def test_tritonclient_int64_and_bytes_tensors(counter: ServerProcess) -> None:
    count = triton.InferInput("count", [3, 1], "INT64")
    count.set_data_from_numpy(np.array([[1], [2], [2**40]], dtype=np.int64))
    word = triton.InferInput("word", [3, 1], "BYTES")
    word.set_data_from_numpy(np.array([[b"hi"], ["h\u00e9".encode()], [b""]], dtype=np.object_))
    result = client(counter).infer("counter", [count, word])
    doubled = result.as_numpy("doubled")
    assert doubled is not None and doubled.dtype == np.int64
    assert doubled.tolist() == [2, 4, 2**41]
    assert [item.decode() for item in result.as_numpy("shout")] == ["HI!", "H\u00c9!", "!"]


def test_tritonclient_bad_request_raises_its_own_exception(iris: ServerProcess) -> None:
    wrong = triton.InferInput("sepal_length", [1, 1], "FP32")
    wrong.set_data_from_numpy(np.array([[-3.0]], dtype=np.float32))
    with pytest.raises(InferenceServerException) as raised:
        client(iris).infer("iris", [wrong])
    assert raised.value.status() == "400"
    assert "petal_width" in str(raised.value) and "sepal_length" in raised.value.message()
    with pytest.raises(InferenceServerException) as unknown:
        client(iris).get_model_metadata("tulip")
    assert unknown.value.status() == "404"


@pytest.fixture(scope="module")
def kserve_calls(iris: ServerProcess, counter: ServerProcess) -> dict[str, Any]:
    """What the KServe SDK's REST client (v2, default tensors) saw, run in its own venv."""
    assert KSERVE_PYTHON.exists(), f"no KServe SDK venv at {KSERVE_PYTHON}: run `make install`"
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    command = [str(KSERVE_PYTHON), str(KSERVE_SCRIPT), iris.url, counter.url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment)
    assert done.returncode == 0, done.stderr
    calls: dict[str, Any] = json.loads(done.stdout)
    return calls


def test_kserve_client_health_and_metadata(kserve_calls: dict[str, Any]) -> None:
    assert kserve_calls["live"] is True and kserve_calls["ready"] is True
    assert kserve_calls["model_ready"] is True and kserve_calls["unknown_model_ready"] is False
    assert "binary_tensor_data" in kserve_calls["metadata"]["server"]["extensions"]
    model = kserve_calls["metadata"]["model"]
    assert model["versions"] == ["1.0.0"] and model["platform"] == "sklearn"
    assert [(tensor["name"], tensor["datatype"]) for tensor in model["inputs"]] == [
        (name, "FP32") for name in IRIS_FIELDS
    ]


def test_kserve_client_infers_a_batch_of_64_fp32_rows_in_binary(kserve_calls: dict[str, Any]) -> None:
    batch = kserve_calls["batch"]
    assert batch["id"] == "kserve-64" and batch["model_name"] == "iris"
    species = batch["outputs"]["species"]
    assert species["datatype"] == "BYTES" and species["shape"] == [64]
    assert species["values"] == ["setosa", "virginica"] * 32
    assert json.loads(batch["outputs"]["probabilities"]["values"][0])["setosa"] > 0.9


def test_kserve_client_int64_and_bytes_tensors(kserve_calls: dict[str, Any]) -> None:
    outputs = kserve_calls["typed"]["outputs"]
    assert outputs["doubled"] == {"datatype": "INT64", "shape": [3], "values": [2, 4, 2**41]}
    assert outputs["shout"] == {"datatype": "BYTES", "shape": [3], "values": ["HI!", "H\u00c9!", "!"]}


def test_kserve_client_surfaces_the_refusals_message(kserve_calls: dict[str, Any]) -> None:
    refused = kserve_calls["bad_request"]
    assert refused["status"] == 400
    assert refused["message"].startswith("invalid input: sepal_length[0]: must be >= 0;")
    assert "petal_width[0]: is required" in refused["message"]
    assert kserve_calls["unknown_model"]["status"] == 404
    assert "/v2/models/tulip/infer" in kserve_calls["unknown_model"]["message"]
