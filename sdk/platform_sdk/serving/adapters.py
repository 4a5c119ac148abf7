"""Framework adapters: load a model file once and call it per request, importing only the framework needed."""

from __future__ import annotations

import importlib
import importlib.util
import os
import pickle
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from platform_sdk.serving.spec import PackageError, ServingSpec, load_ref


class Adapter:
    """A loaded model; `predict` takes the model input and returns its raw output."""

    def __init__(self, call: Callable[[Any], Any], *, locked: bool) -> None:
        self._call = call
        self._lock = threading.Lock() if locked else None

    def predict(self, model_input: Any) -> Any:
        """Call the model; serialised when the framework object is not safe to share between threads."""
        if self._lock is None:
            return self._call(model_input)
        with self._lock:
            return self._call(model_input)


def skip_finite_scan(call: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The estimator call with scikit-learn's own finiteness scan skipped for a float array checked here.

    numpy's one-pass isfinite replaces scikit-learn's slower scan; any other input (a DataFrame, a list, an
    array holding NaN or inf) goes through scikit-learn's usual checks and errors.
    """
    if importlib.util.find_spec("sklearn") is None or importlib.util.find_spec("numpy") is None:
        return call
    import numpy as np
    import sklearn

    def call_checked(model_input: Any) -> Any:
        float_array = isinstance(model_input, np.ndarray) and model_input.dtype.kind == "f"
        if float_array and np.isfinite(model_input).all():
            with sklearn.config_context(assume_finite=True):
                return call(model_input)
        return call(model_input)

    return call_checked


def load_sklearn(spec: ServingSpec) -> Adapter:
    """A pickled or joblib-dumped estimator; when an output is named 'probabilities', one predict_proba call.

    The label output is then the most probable class, so it always agrees with the probabilities shown.
    """
    path = spec.model_path()
    if path.suffix == ".joblib":
        import joblib

        model = joblib.load(path)
    else:
        with path.open("rb") as handle:
            model = pickle.load(handle)
    method = spec.legacy.predict_method if spec.legacy else "predict"
    wants_proba = any(out.name == "probabilities" for out in spec.outputs) and hasattr(model, "predict_proba")
    if not wants_proba:
        return Adapter(skip_finite_scan(getattr(model, method)), locked=False)
    import numpy as np  # scikit-learn depends on numpy; a pure Python model never imports it

    classes = np.asarray(model.classes_)
    names = [c.item() if hasattr(c, "item") else c for c in classes]
    label = next((out.name for out in spec.outputs if out.name != "probabilities"), "prediction")

    predict_proba = skip_finite_scan(model.predict_proba)

    def with_proba(model_input: Any) -> Any:
        probabilities = predict_proba(model_input)
        return {
            label: classes[probabilities.argmax(axis=1)],
            "probabilities": [dict(zip(names, map(float, row))) for row in probabilities],
        }

    return Adapter(with_proba, locked=False)


def _tflite_interpreter(path: Path) -> Any:
    for module, attribute in (
        ("ai_edge_litert.interpreter", "Interpreter"),
        ("tflite_runtime.interpreter", "Interpreter"),
        ("tensorflow.lite", "Interpreter"),
    ):
        if importlib.util.find_spec(module.split(".")[0]) is not None:
            return getattr(importlib.import_module(module), attribute)(model_path=str(path))
    raise PackageError("framework 'tflite' needs ai-edge-litert (pip install ai-edge-litert)")


def load_tflite(spec: ServingSpec) -> Adapter:
    """A .tflite flat buffer run by one interpreter behind a lock, resized to each batch."""
    import numpy as np

    interpreter = _tflite_interpreter(spec.model_path())
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def invoke(model_input: Any) -> Any:
        batch = np.asarray(model_input, dtype=source["dtype"])
        if tuple(batch.shape) != tuple(interpreter.get_input_details()[0]["shape"]):
            interpreter.resize_tensor_input(source["index"], list(batch.shape))
            interpreter.allocate_tensors()
        interpreter.set_tensor(source["index"], batch)
        interpreter.invoke()
        return np.array(interpreter.get_tensor(target["index"]))

    return Adapter(invoke, locked=True)


def load_keras(spec: ServingSpec) -> Adapter:
    """A .keras/.h5 file via Keras 3 (numpy backend when TensorFlow is absent), or a SavedModel directory."""
    path = spec.model_path()
    if "KERAS_BACKEND" not in os.environ and importlib.util.find_spec("tensorflow") is None:
        os.environ["KERAS_BACKEND"] = "numpy"
    import keras
    import numpy as np

    if path.is_dir():
        layer = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")

        def call_saved(model_input: Any) -> Any:
            result = layer(np.asarray(model_input, dtype="float32"))
            first = next(iter(result.values())) if isinstance(result, dict) else result
            return np.asarray(first)

        return Adapter(call_saved, locked=True)
    model = keras.models.load_model(str(path), compile=False)
    if spec.legacy:

        def call_legacy(model_input: Any) -> Any:
            as_batch = isinstance(model_input, (list, tuple))
            return model.predict_on_batch(np.asarray(model_input) if as_batch else model_input)

        return Adapter(call_legacy, locked=True)

    def call_model(model_input: Any) -> Any:
        return np.asarray(model(np.asarray(model_input, dtype="float32"), training=False))

    return Adapter(call_model, locked=True)


def load_python(spec: ServingSpec) -> Adapter:
    """A user class 'module.py:ClassName' with load(path) and predict(inputs)."""
    if not spec.model_class:
        raise PackageError("framework 'python' needs model_class: 'module.py:ClassName'")
    instance = load_ref(spec.root, spec.model_class)()
    instance.load(str(spec.model_path() if spec.model_file else spec.root))
    return Adapter(instance.predict, locked=True)


LOADERS: dict[str, Callable[[ServingSpec], Adapter]] = {
    "sklearn": load_sklearn,
    "tflite": load_tflite,
    "keras": load_keras,
    "python": load_python,
}


def load_adapter(spec: ServingSpec) -> Adapter:
    """Load the package's model with the adapter for its framework."""
    loader = LOADERS.get(spec.framework)
    if loader is None:
        raise PackageError(f"unknown framework '{spec.framework}'; expected one of {', '.join(LOADERS)}")
    return loader(spec)
