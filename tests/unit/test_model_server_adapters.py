"""Framework adapters and the pipeline: sklearn, tflite, keras (numpy backend) and python models."""

from __future__ import annotations

import importlib.util
import json
import pickle
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from platform_sdk.serving.pipeline import Pipeline
from platform_sdk.serving.spec import PackageError, read_package

from tests.model_servers import EXAMPLES

IRIS = EXAMPLES / "sklearn-iris" / "package"
FAN = EXAMPLES / "fan-anomaly" / "package"
FAN_KERAS = EXAMPLES / "fan-anomaly" / "package-keras"
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
HEALTHY = {"rpm": 600.0, "vibration": 0.3, "temperature": 45.0, "sound": 60.0}
FAILING = {"rpm": 410.0, "vibration": 0.85, "temperature": 65.0, "sound": 78.0}


def needs(*modules: str) -> None:
    """Fail (never skip) when a dev-extra framework is missing; found without importing it."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    assert not missing, f"install the dev extras: {', '.join(missing)} missing"


def copy_package(source: Path, target: Path, **changes: Any) -> Path:
    """A copy of a package with some model.json keys replaced."""
    shutil.copytree(source, target)
    manifest = json.loads((target / "model.json").read_text())
    (target / "model.json").write_text(json.dumps(manifest | changes))
    return target


def test_sklearn_with_probabilities_calls_predict_proba() -> None:
    outputs = Pipeline(read_package(IRIS)).predict(SETOSA)
    assert outputs["species"] == "setosa"
    assert set(outputs["probabilities"]) == {"setosa", "versicolor", "virginica"}
    assert sum(outputs["probabilities"].values()) == pytest.approx(1.0)
    assert max(outputs["probabilities"], key=outputs["probabilities"].get) == "setosa"


def test_sklearn_skips_its_finiteness_scan_only_for_a_finite_float_array() -> None:
    adapter = Pipeline(read_package(IRIS)).adapter
    model = pickle.loads((IRIS / "model.pkl").read_bytes())
    rows = np.asarray([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype="float32")
    probabilities = adapter.predict(rows)["probabilities"]
    assert [list(row.values()) for row in probabilities] == model.predict_proba(rows).tolist()
    overflowed = np.asarray([[5.1, 3.5, 1.4, np.inf]], dtype="float32")  # as 1e300 becomes in float32
    with pytest.raises(ValueError, match="infinity"):
        adapter.predict(overflowed)
    with pytest.raises(ValueError, match="NaN"):
        adapter.predict([[5.1, 3.5, 1.4, float("nan")]])


def test_sklearn_joblib_without_probabilities_calls_predict(tmp_path: Path) -> None:
    needs("joblib")
    import joblib

    package = copy_package(
        IRIS, tmp_path / "pkg", model_file="model.joblib", outputs=[{"name": "species", "type": "string"}]
    )
    joblib.dump(pickle.loads((IRIS / "model.pkl").read_bytes()), package / "model.joblib")
    assert Pipeline(read_package(package)).predict(SETOSA) == {"species": "setosa"}


def test_tflite_scores_a_failing_fan_higher_and_resizes_for_batches() -> None:
    needs("ai_edge_litert")
    pipeline = Pipeline(read_package(FAN))
    healthy = pipeline.predict(HEALTHY)["failure_probability"]
    failing = pipeline.predict(FAILING)["failure_probability"]
    assert healthy < 0.2 < 0.8 < failing
    batch = np.vstack([pipeline.preprocess(record) for record in (HEALTHY, FAILING, HEALTHY)])
    assert pipeline.adapter.predict(batch).shape == (3, 1)


def test_tflite_answers_concurrent_callers_consistently() -> None:
    needs("ai_edge_litert")
    pipeline = Pipeline(read_package(FAN))
    expected = pipeline.predict(FAILING)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: pipeline.predict(FAILING), range(200)))
    assert all(result == expected for result in results)


def test_keras_runs_on_the_numpy_backend_and_agrees_with_tflite() -> None:
    needs("keras", "jax", "ai_edge_litert")
    keras_pipeline = Pipeline(read_package(FAN_KERAS))
    tflite_pipeline = Pipeline(read_package(FAN))
    for record in (HEALTHY, FAILING):
        assert keras_pipeline.predict(record)["failure_probability"] == pytest.approx(
            tflite_pipeline.predict(record)["failure_probability"], abs=1e-4
        )


def python_package(tmp_path: Path, code: str, **manifest: Any) -> Path:
    (tmp_path / "model.py").write_text(code)
    (tmp_path / "weights.txt").write_text("3")
    base = {
        "name": "scaler",
        "version": "1.0.0",
        "framework": "python",
        "model_class": "model.py:Scaler",
        "model_file": "weights.txt",
        "inputs": [{"name": "x", "type": "float"}],
        "outputs": [{"name": "y", "type": "float"}],
    }
    (tmp_path / "model.json").write_text(json.dumps(base | manifest))
    return tmp_path


SCALER = """
from pathlib import Path

class Scaler:
    def load(self, path):
        self.factor = float(Path(path).read_text())

    def predict(self, inputs):
        return inputs["x"] * self.factor
"""


def test_python_class_loads_once_and_predicts_records(tmp_path: Path) -> None:
    pipeline = Pipeline(read_package(python_package(tmp_path, SCALER)))
    assert pipeline.predict({"x": 2.0}) == {"y": 6.0}


def test_postprocess_hook_shapes_the_answer(tmp_path: Path) -> None:
    (tmp_path / "post.py").write_text("def label(value):\n    return {'y': value, 'big': value > 5}\n")
    pipeline = Pipeline(read_package(python_package(tmp_path, SCALER, postprocess="post.py:label")))
    assert pipeline.predict({"x": 2.0}) == {"y": 6.0, "big": True}


def test_a_hook_raising_at_load_propagates(tmp_path: Path) -> None:
    (tmp_path / "pre.py").write_text("raise RuntimeError('scaler constants missing')\n")
    spec = read_package(python_package(tmp_path, SCALER, preprocess="pre.py:prep"))
    with pytest.raises(RuntimeError, match="scaler constants missing"):
        Pipeline(spec)


def test_a_hook_naming_a_missing_function_is_a_package_error(tmp_path: Path) -> None:
    (tmp_path / "pre.py").write_text("def other(record):\n    return record\n")
    spec = read_package(python_package(tmp_path, SCALER, preprocess="pre.py:prep"))
    with pytest.raises(PackageError, match=r"pre\.py defines no 'prep'"):
        Pipeline(spec)


def test_an_unknown_framework_is_a_package_error(tmp_path: Path) -> None:
    spec = read_package(python_package(tmp_path, SCALER, framework="onnx", model_file="m.onnx"))
    with pytest.raises(PackageError, match="unknown framework 'onnx'"):
        Pipeline(spec)


def test_non_numeric_inputs_need_a_preprocess_hook(tmp_path: Path) -> None:
    package = copy_package(IRIS, tmp_path / "pkg", inputs=[{"name": "photo", "type": "image"}])
    with pytest.raises(PackageError, match="need a preprocess hook"):
        Pipeline(read_package(package))


def test_a_legacy_h5_model_is_called_with_predict_on_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    needs("keras", "jax", "h5py")
    if importlib.util.find_spec("tensorflow") is None:
        monkeypatch.setenv("KERAS_BACKEND", "numpy")
    import keras

    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1, use_bias=False)])
    model.layers[0].set_weights([np.asarray([[1.0], [10.0]])])
    model.save(tmp_path / "model.h5")
    (tmp_path / "pre.py").write_text("def pre(data):\n    return [[data['a'], data['b']]]\n")
    (tmp_path / "post.py").write_text("def post(pred):\n    return float(pred[0][0])\n")
    config = {
        "name": "sum",
        "preprocessing": {
            "name": "pre.py",
            "method_name": "pre",
            "input_params": [{"a": "float", "b": "float"}],
        },
        "prediction": {"name": "model.h5", "model_type": "h5", "method_name": "predict"},
        "postprocessing": {"name": "post.py", "method_name": "post"},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    pipeline = Pipeline(read_package(tmp_path))
    assert pipeline.predict_legacy({"a": 1.0, "b": 2.0}) == pytest.approx(21.0)
