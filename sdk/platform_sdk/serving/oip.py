"""Open Inference Protocol v2 (KServe): model metadata, and tensors converted to and from records."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from platform_sdk.serving.schema import RequestError, validation_failed
from platform_sdk.serving.spec import FieldSpec, ServingSpec

DATATYPES = {
    "int": "INT64",
    "float": "FP32",
    "bool": "BOOL",
    "string": "BYTES",
    "image": "BYTES",
    "array": "FP32",
    "object": "BYTES",
}


def tensor_spec(field: FieldSpec) -> dict[str, Any]:
    """One field as OIP tensor metadata; -1 stands for the batch and for any free dimension."""
    inner = [-1 if dim is None else dim for dim in field.shape] if field.shape else []
    if field.type == "array" and not field.shape:
        inner = [-1]
    return {"name": field.name, "datatype": DATATYPES.get(field.type, "BYTES"), "shape": [-1, *inner]}


def metadata(spec: ServingSpec) -> dict[str, Any]:
    """The body of GET /v2/models/{name}."""
    return {
        "name": spec.name,
        "versions": [spec.version],
        "platform": spec.framework,
        "inputs": [tensor_spec(field) for field in spec.inputs],
        "outputs": [tensor_spec(field) for field in spec.outputs],
    }


def _rows(tensor: dict[str, Any]) -> list[Any]:
    shape = tensor.get("shape")
    data = tensor.get("data")
    if not isinstance(shape, list) or not shape or not isinstance(data, list):
        raise RequestError(400, "bad_request", f"tensor '{tensor.get('name')}' needs a shape and a data list")
    flat = np.asarray(data, dtype=object).reshape(-1)
    try:
        rows = flat.reshape([int(dim) for dim in shape])
    except ValueError as exc:
        raise RequestError(400, "bad_request", f"tensor '{tensor['name']}': {exc}") from None
    return [row.tolist() if isinstance(row, np.ndarray) else row for row in rows]


def records_from_request(spec: ServingSpec, body: Any) -> list[dict[str, Any]]:
    """Turn {"inputs": [tensor, ...]} into one record per batch row."""
    tensors = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(tensors, list) or not all(isinstance(t, dict) and "name" in t for t in tensors):
        raise RequestError(400, "bad_request", 'expected {"inputs": [{"name", "shape", "datatype", "data"}]}')
    kinds = {field.name: field.type for field in spec.inputs}
    columns = {str(t["name"]): _rows(t) for t in tensors}
    sizes = {len(rows) for rows in columns.values()}
    if len(sizes) > 1:
        raise validation_failed({"inputs": "every tensor must have the same batch size (first dimension)"})
    count = sizes.pop() if sizes else 0
    records: list[dict[str, Any]] = [{} for _ in range(count)]
    for name, rows in columns.items():
        for record, value in zip(records, rows):  # noqa: B905
            scalar = kinds.get(name) != "array" and isinstance(value, list) and len(value) == 1
            record[name] = value[0] if scalar else value
    return records


def _datatype(values: list[Any]) -> str:
    sample = np.asarray(values)
    if sample.dtype == bool:
        return "BOOL"
    if np.issubdtype(sample.dtype, np.integer):
        return "INT64"
    if np.issubdtype(sample.dtype, np.floating):
        return "FP64"
    return "BYTES"


def response(spec: ServingSpec, results: list[dict[str, Any]], request_id: Any) -> dict[str, Any]:
    """Turn one output record per batch row into {"model_name", "outputs": [tensor, ...]}."""
    names = list(results[0]) if results else [field.name for field in spec.outputs]
    outputs = []
    for name in names:
        values = [result.get(name) for result in results]
        datatype = _datatype(values) if all(v is not None for v in values) else "BYTES"
        if datatype == "BYTES":
            values = [v if isinstance(v, str) else json.dumps(v) for v in values]
        shape = list(np.asarray(values).shape) if datatype != "BYTES" else [len(values)]
        flat = np.asarray(values).reshape(-1).tolist() if datatype != "BYTES" else values
        outputs.append({"name": name, "datatype": datatype, "shape": shape, "data": flat})
    body: dict[str, Any] = {"model_name": spec.name, "model_version": spec.version, "outputs": outputs}
    if request_id is not None:
        body["id"] = request_id
    return body
