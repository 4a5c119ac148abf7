"""The prediction pipeline: preprocess hook, model, postprocess hook, loaded once per process."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from platform_sdk.serving.adapters import Adapter, load_adapter
from platform_sdk.serving.batcher import Batcher
from platform_sdk.serving.spec import PackageError, ServingSpec, load_ref

NUMERIC = ("int", "float", "bool")
BATCHED_FRAMEWORKS = ("sklearn", "keras", "tflite")


def first_row(value: Any, index: int = 0) -> Any:
    """Row `index` of a batch: a scalar when it holds one number, else a list (or its dict or text)."""
    if isinstance(value, (list, tuple)):
        row = value[index]
    else:
        import numpy as np  # only models of numpy frameworks get here; pure Python models need no numpy

        array = np.asarray(value)
        row = array.item() if array.ndim == 0 else array[index]
    return row if isinstance(row, (dict, str)) else first_row_item(row)


def first_row_item(value: Any) -> Any:
    """A plain Python value (scalar or list) for one row that may be a numpy value."""
    if isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], (bool, int, float)):
        return value[0]
    import numpy as np

    array = np.asarray(value)
    if array.ndim == 0:
        return array.item()
    return array.reshape(-1)[0].item() if array.size == 1 else array.tolist()


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else value


class Pipeline:
    """Runs one record through preprocess -> model -> postprocess and names the outputs."""

    def __init__(self, spec: ServingSpec, observe_inference: Callable[[float], None] | None = None) -> None:
        self.spec = spec
        self.preprocess = load_ref(spec.root, spec.preprocess) if spec.preprocess else None
        self.postprocess = load_ref(spec.root, spec.postprocess) if spec.postprocess else None
        self._observe = observe_inference or (lambda seconds: None)
        self._names = [field.name for field in spec.inputs]
        if self.preprocess is None and spec.framework != "python" and not spec.legacy:
            kinds = [field.type for field in spec.inputs]
            if not (all(kind in NUMERIC for kind in kinds) or kinds == ["array"]):
                raise PackageError(
                    f"inputs of types {', '.join(sorted(set(kinds)))} need a preprocess hook that turns a "
                    "record into the model's input; only numbers or one array are converted automatically"
                )
        self.adapter: Adapter = load_adapter(spec)
        plain = self.preprocess is None and self.postprocess is None and not spec.legacy
        self._batcher = (
            Batcher(self.predict_batch) if plain and spec.framework in BATCHED_FRAMEWORKS else None
        )

    def _features(self, record: Mapping[str, Any]) -> Any:
        if self.preprocess is not None:
            return self.preprocess(record)
        if self.spec.framework == "python":
            return record
        return self._stacked([record])

    def _stacked(self, records: Sequence[Mapping[str, Any]]) -> Any:
        """The records as one float32 batch: a row of numbers each, or each one's array."""
        import numpy as np

        if len(self._names) == 1 and self.spec.inputs[0].type == "array":
            return np.asarray([record[self._names[0]] for record in records], dtype="float32")
        return np.asarray([[record[name] for name in self._names] for record in records], dtype="float32")

    def _infer(self, model_input: Any) -> Any:
        started = time.perf_counter()
        raw = self.adapter.predict(model_input)
        self._observe(time.perf_counter() - started)
        return raw

    def predict(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Predict one validated record (batched with concurrent ones where it can be); {output: value}."""
        if self._batcher is not None:
            result: dict[str, Any] = self._batcher.submit(record)
            return result
        return self._predict_one(record)

    def predict_batch(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Predict validated records, in one model call when the model needs no hooks, else one by one."""
        if self._batcher is None or len(records) == 1:
            return [self._predict_one(record) for record in records]
        try:
            batch = self._stacked(records)
        except ValueError:  # arrays of different shapes: no single tensor holds them
            return [self._predict_one(record) for record in records]
        raw = self._infer(batch)
        if isinstance(raw, Mapping):  # plain lists once per batch, so that each row is a cheap index
            raw = {name: _plain(value) for name, value in raw.items()}
        else:
            raw = _plain(raw)
        return [self.name_outputs(raw, index) for index in range(len(records))]

    def _predict_one(self, record: Mapping[str, Any]) -> dict[str, Any]:
        raw = self._infer(self._features(record))
        if self.postprocess is not None:
            raw = self.postprocess(raw)
        elif self.spec.framework != "python":
            return self.name_outputs(raw)
        if isinstance(raw, Mapping):
            return dict(raw)
        return {self.spec.outputs[0].name if self.spec.outputs else "output": raw}

    def name_outputs(self, raw: Any, index: int = 0) -> dict[str, Any]:
        """Map row `index` of the model's raw output onto the declared output fields."""
        if isinstance(raw, Mapping):
            return {name: first_row(value, index) for name, value in raw.items()}
        names = [field.name for field in self.spec.outputs] or ["output"]
        value = first_row(raw, index)
        if len(names) > 1 and isinstance(value, list) and len(value) == len(names):
            return dict(zip(names, value))
        return {names[0]: value}

    def predict_legacy(self, source: Any) -> Any:
        """The original platform's call: postprocess(model.predict(preprocess(body or image path)))."""
        model_input = self.preprocess(source) if self.preprocess is not None else source
        raw = self._infer(model_input)
        return self.postprocess(raw) if self.postprocess is not None else raw
