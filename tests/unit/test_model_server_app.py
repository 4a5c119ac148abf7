"""The model server's routes, called in-process: /predict, /health, /metrics, OIP v2 and legacy mode."""

from __future__ import annotations

import io
import json
import pickle
import struct
from pathlib import Path

import pytest
import urllib3
from platform_sdk.serving.__main__ import build_server
from prometheus_client.parser import text_string_to_metric_families
from sklearn.linear_model import LinearRegression
from werkzeug.test import Client

from canopy.errors import ValidationFailed, error_from_payload
from tests.model_servers import EXAMPLES, wsgi

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
VIRGINICA = {"sepal_length": 6.5, "sepal_width": 3.0, "petal_length": 5.5, "petal_width": 2.0}


@pytest.fixture(scope="module")
def iris() -> Client:
    return Client(wsgi(build_server(EXAMPLES / "sklearn-iris" / "package", "m-1")))


@pytest.fixture(scope="module")
def weather() -> Client:
    return Client(wsgi(build_server(EXAMPLES / "legacy-weather" / "package")))


def test_health_says_ready(iris: Client) -> None:
    response = iris.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "model": "iris"}


@pytest.mark.parametrize("body", [{"inputs": SETOSA}, SETOSA])
def test_predict_accepts_wrapped_or_bare_records(iris: Client, body: dict[str, object]) -> None:
    response = iris.post("/predict", json=body)
    assert response.status_code == 200
    assert response.json["outputs"]["species"] == "setosa"


def test_predict_accepts_a_list_of_records(iris: Client) -> None:
    response = iris.post("/predict", json={"inputs": [SETOSA, VIRGINICA]})
    assert [item["species"] for item in response.json["outputs"]] == ["setosa", "virginica"]


def test_predict_reads_json_sent_with_curls_default_form_type(iris: Client) -> None:
    body = json.dumps(SETOSA)
    response = iris.post("/predict", data=body, content_type="application/x-www-form-urlencoded")
    assert response.json["outputs"]["species"] == "setosa"


def test_predict_accepts_an_urlencoded_form(iris: Client) -> None:
    response = iris.post("/predict", data={name: str(value) for name, value in SETOSA.items()})
    assert response.status_code == 200, response.json
    assert response.json["outputs"]["species"] == "setosa"


def test_predict_accepts_a_multipart_form(iris: Client) -> None:
    body, content_type = urllib3.encode_multipart_formdata({k: str(v) for k, v in SETOSA.items()})
    assert iris.post("/predict", data=body, content_type=content_type).json["outputs"]["species"] == "setosa"
    form = {name: str(value) for name, value in SETOSA.items()} | {"note": (io.BytesIO(b"x"), "n.txt")}
    response = iris.post("/predict", data=form)
    assert response.status_code == 400
    assert response.json["error"]["details"] == {"note": "is not an input of this model"}


def test_bad_input_is_a_400_with_field_errors_the_sdk_maps_back(iris: Client) -> None:
    response = iris.post("/predict", json={"inputs": SETOSA | {"sepal_length": "long", "petal_width": -3}})
    assert response.status_code == 400
    error = error_from_payload(response.status_code, response.json)
    assert isinstance(error, ValidationFailed)
    assert error.details == {"sepal_length": "must be a number", "petal_width": "must be >= 0"}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/predict", b"{not json", 400, "bad_request"),
        ("GET", "/nowhere", b"", 404, "not_found"),
    ],
)
def test_bad_requests_get_canopy_error_bodies(
    iris: Client, method: str, path: str, body: bytes, status: int, code: str
) -> None:
    response = iris.open(path, method=method, data=body, content_type="application/json")
    assert response.status_code == status
    assert response.json["error"]["code"] == code


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition, parsed by prometheus_client's own parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_requests_bytes_inference_and_memory(iris: Client) -> None:
    before = samples(iris.get("/metrics").get_data(as_text=True))
    iris.post("/predict", json=SETOSA)
    iris.post("/predict", json={"inputs": 3})
    after = samples(iris.get("/metrics").get_data(as_text=True))
    model = (("model", "iris"), ("model_id", "m-1"))

    def grew(name: str, *labels: tuple[str, str]) -> float:
        key = (name, tuple(sorted((*model, *labels))))
        return after[key] - before.get(key, 0.0)

    assert grew("canopy_model_requests_total", ("route", "/predict"), ("status", "200")) == 1
    assert grew("canopy_model_requests_total", ("route", "/predict"), ("status", "400")) == 1
    assert grew("canopy_model_request_seconds_count", ("route", "/predict")) == 2
    assert grew("canopy_model_request_seconds_bucket", ("route", "/predict"), ("le", "+Inf")) == 2
    assert grew("canopy_model_inference_seconds_count") == 1
    assert 0 < grew("canopy_model_inference_seconds_sum") < 5
    assert grew("canopy_model_request_bytes_total") == len(json.dumps(SETOSA)) + len('{"inputs": 3}')
    assert grew("canopy_model_response_bytes_total") > 0
    assert after[("process_resident_memory_bytes", ())] > 10 * 2**20
    assert after[("process_cpu_seconds_total", ())] > 0
    assert after[("process_open_fds", ())] >= 3


def test_oip_health_and_metadata(iris: Client) -> None:
    assert iris.get("/v2/health/ready").json == {"ready": True}
    assert iris.get("/v2/health/live").json == {"live": True}
    metadata = iris.get("/v2/models/iris").json
    assert metadata["name"] == "iris" and metadata["versions"] == ["1.0.0"]
    assert metadata["inputs"][0] == {"name": "sepal_length", "datatype": "FP32", "shape": [-1]}
    assert [output["name"] for output in metadata["outputs"]] == ["species", "probabilities"]


def oip_request(*records: dict[str, object]) -> dict[str, object]:
    tensors = [
        {"name": name, "shape": [len(records), 1], "datatype": "FP32", "data": [r[name] for r in records]}
        for name in records[0]
    ]
    return {"id": "req-1", "inputs": tensors}


def test_oip_infer_takes_and_returns_tensors(iris: Client) -> None:
    response = iris.post("/v2/models/iris/versions/1.0.0/infer", json=oip_request(SETOSA, VIRGINICA))
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["model_name"], body["id"]) == ("iris", "req-1")
    species = next(output for output in body["outputs"] if output["name"] == "species")
    assert species == {"name": "species", "datatype": "BYTES", "shape": [2], "data": ["setosa", "virginica"]}


def test_oip_infer_names_the_bad_row(iris: Client) -> None:
    response = iris.post("/v2/models/iris/infer", json=oip_request(SETOSA, VIRGINICA | {"petal_width": -1}))
    assert response.status_code == 400
    assert response.json == {"error": "invalid input: petal_width[1]: must be >= 0"}


def binary_request(tensors: list[tuple[str, str, bytes]], header_extra: int = 0) -> tuple[bytes, int]:
    """An OIP request with the binary data extension: JSON header, then each tensor's raw bytes."""
    inputs = [
        {"name": name, "shape": [1, 1], "datatype": datatype, "parameters": {"binary_data_size": len(raw)}}
        for name, datatype, raw in tensors
    ]
    header = json.dumps({"inputs": inputs, "parameters": {"binary_data_output": True}}).encode()
    return header + b"".join(raw for _, _, raw in tensors), len(header) + header_extra


def test_oip_binary_tensors_in_and_out(iris: Client) -> None:
    body, length = binary_request([(name, "FP64", struct.pack("<d", SETOSA[name])) for name in SETOSA])
    response = iris.post(
        "/v2/models/iris/infer", data=body, headers={"Inference-Header-Content-Length": str(length)}
    )
    assert response.status_code == 200, response.data
    assert response.content_type == "application/octet-stream"
    size = int(response.headers["Inference-Header-Content-Length"])
    header = json.loads(response.data[:size])
    species = next(output for output in header["outputs"] if output["name"] == "species")
    assert species["parameters"] == {"binary_data_size": 4 + len("setosa")}
    assert b"\x06\x00\x00\x00setosa" in response.data[size:]


@pytest.mark.parametrize(
    ("tensors", "header_extra", "headers", "problem"),
    [
        ([("sepal_length", "FP32", b"\0\0\0")], 0, {}, "not a multiple of 4 bytes"),
        ([("sepal_length", "COMPLEX", b"\0")], 0, {}, "unsupported datatype"),
        ([("sepal_length", "BYTES", b"\x09\0\0\0ab")], 0, {}, "runs past"),
        ([("sepal_length", "FP32", b"\0" * 4)], -1, {}, "must be JSON"),
        (
            [("sepal_length", "FP32", b"\0" * 4)],
            0,
            {"Inference-Header-Content-Length": "x"},
            "Header-Content",
        ),
        ([], 0, {"Inference-Header-Content-Length": "999"}, "Header-Content"),
        ([], 0, {"Inference-Header-Content-Length": "\u00b2"}, "Header-Content"),
        ([("sepal_length", "FP32", b"\0" * 4)], -40, {}, "must be JSON"),
    ],
)
def test_bad_binary_requests_get_oip_error_bodies(
    iris: Client,
    tensors: list[tuple[str, str, bytes]],
    header_extra: int,
    headers: dict[str, str],
    problem: str,
) -> None:
    body, length = binary_request(tensors, header_extra)
    headers = {"Inference-Header-Content-Length": str(length)} | headers
    response = iris.post("/v2/models/iris/infer", data=body, headers=headers)
    assert response.status_code == 400
    assert problem in response.json["error"]


def test_oip_trailing_bytes_and_unknown_outputs_are_refused(iris: Client) -> None:
    body, length = binary_request([(name, "FP64", struct.pack("<d", SETOSA[name])) for name in SETOSA])
    trailing = iris.post(
        "/v2/models/iris/infer", data=body + b"xx", headers={"Inference-Header-Content-Length": str(length)}
    )
    assert trailing.json == {"error": "2 bytes after the last binary tensor"}
    short = iris.post(
        "/v2/models/iris/infer", data=body[:-1], headers={"Inference-Header-Content-Length": str(length)}
    )
    assert short.json == {"error": "tensor 'petal_width': bad binary_data_size"}
    unknown = iris.post("/v2/models/iris/infer", json=oip_request(SETOSA) | {"outputs": [{"name": "colour"}]})
    assert unknown.status_code == 400 and "species, probabilities" in unknown.json["error"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/v2/models/other/infer", b"{}", 404),
        ("POST", "/v2/models/iris/infer", b'{"inputs": 3}', 400),
        ("POST", "/v2/models/iris/infer", b"[1]", 400),
        ("POST", "/v2/models/iris/versions/9/infer", b"{}", 404),
        ("GET", "/v2/models/iris/versions/9", b"", 404),
    ],
)
def test_v2_errors_are_the_protocols_plain_message(
    iris: Client, method: str, path: str, body: bytes, status: int
) -> None:
    response = iris.open(path, method=method, data=body, content_type="application/json")
    assert response.status_code == status
    assert list(response.json) == ["error"] and isinstance(response.json["error"], str)


def test_version_qualified_routes(iris: Client) -> None:
    assert iris.get("/v2/models/iris/versions/1.0.0/ready").json == {"name": "iris", "ready": True}
    assert iris.get("/v2/models/iris/versions/1.0.0").json == iris.get("/v2/models/iris").json
    assert "binary_tensor_data" in iris.get("/v2").json["extensions"]


def test_legacy_json_model_answers_output_on_its_old_route(weather: Client) -> None:
    response = weather.post("/predict/any-model-id", json={"perc": 20.0, "temp_max": 12.0})
    assert response.json == {"output": "Rain"}
    assert weather.post("/predict", json={"perc": "a lot"}).json["error"]["details"] == {
        "perc": "must be a number",
        "temp_max": "is required (float)",
    }


@pytest.fixture()
def image_model(tmp_path: Path) -> Client:
    """A legacy image model: preprocess gets the upload's path, the model echoes the file's size."""
    config = {
        "name": "size",
        "readme": "readme.md",
        "preprocessing": {"name": "pre.py", "method_name": "pre", "input_params": [{"img": "png"}]},
        "prediction": {"name": "model.pkl", "model_type": "pkl", "method_name": "predict"},
        "postprocessing": {"name": "post.py", "method_name": "post"},
        "dependency": "requirements.txt",
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "pre.py").write_text("import os\n\ndef pre(path):\n    return [[os.path.getsize(path)]]\n")
    (tmp_path / "post.py").write_text("def post(pred):\n    return round(float(pred[0]))\n")
    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    return Client(wsgi(build_server(tmp_path)))


def test_legacy_image_model_gets_a_temporary_file(image_model: Client) -> None:
    response = image_model.post("/predict", data={"image": (io.BytesIO(b"x" * 42), "photo.png")})
    assert response.json == {"output": 42}
    assert image_model.post("/predict", data={"other": "x"}).json["error"]["details"] == {
        "image": "must be a file upload (multipart form field)"
    }


def test_a_model_failing_at_predict_time_is_a_500(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text(
        "class Broken:\n    def load(self, path):\n        pass\n\n"
        "    def predict(self, inputs):\n        raise ValueError('bad weights')\n"
    )
    manifest = {
        "name": "broken",
        "version": "1.0.0",
        "framework": "python",
        "model_class": "model.py:Broken",
        "inputs": [{"name": "x", "type": "float"}],
        "outputs": [{"name": "y", "type": "float"}],
    }
    (tmp_path / "model.json").write_text(json.dumps(manifest))
    response = Client(wsgi(build_server(tmp_path))).post("/predict", json={"x": 1})
    assert response.status_code == 500
    assert response.json["error"] == {
        "code": "internal",
        "message": "the model failed: ValueError: bad weights",
        "retryable": False,
    }
