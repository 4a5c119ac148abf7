"""Open Inference Protocol v2 (KServe): model metadata, and tensors converted to and from records."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from typing import Any

from platform_sdk.serving import tensors
from platform_sdk.serving.schema import RequestError, nested_shape, validation_failed
from platform_sdk.serving.spec import FieldSpec, ServingSpec

HEADER_LENGTH = "inference-header-content-length"
BINARY = "application/octet-stream"
SERVER_METADATA = {"name": "canopy-model-server", "version": "2", "extensions": ["binary_tensor_data"]}

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


def read_request(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The JSON inference request; with the binary data extension, its binary tensors put back as data."""
    text = headers.get(HEADER_LENGTH)
    if text is None:
        return _json(body)
    if not (text.isascii() and text.isdigit()) or int(text) > len(body):
        raise RequestError(400, "bad_request", f"bad Inference-Header-Content-Length {text[:40]!r}")
    request = _json(body[: int(text)])
    offset = int(text)
    for tensor in request.get("inputs") or []:
        size = (tensor.get("parameters") or {}).get("binary_data_size") if isinstance(tensor, dict) else None
        if size is None:
            continue
        if not isinstance(size, int) or size < 0 or offset + size > len(body):
            raise RequestError(400, "bad_request", f"tensor '{tensor.get('name')}': bad binary_data_size")
        raw = body[offset : offset + size]
        tensor["data"] = tensors.decode(str(tensor.get("name")), str(tensor.get("datatype")), raw)
        offset += size
    if offset != len(body):
        raise RequestError(400, "bad_request", f"{len(body) - offset} bytes after the last binary tensor")
    return request


def _json(body: bytes) -> dict[str, Any]:
    try:
        request = json.loads(body)
    except ValueError:
        raise RequestError(400, "bad_request", "the inference request header must be JSON") from None
    if not isinstance(request, dict):
        raise RequestError(400, "bad_request", 'expected {"inputs": [{"name", "shape", "datatype", "data"}]}')
    return request


def flatten(data: Any) -> Iterator[Any]:
    """The scalars of nested lists in row-major order."""
    if isinstance(data, list):
        for item in data:
            yield from flatten(item)
    else:
        yield data


def reshape(flat: list[Any], dims: list[int]) -> list[Any]:
    """Nested lists of shape `dims` from a flat list whose length is their product."""
    if len(dims) <= 1:
        return flat
    step = math.prod(dims[1:])
    return [reshape(flat[index * step : (index + 1) * step], dims[1:]) for index in range(dims[0])]


def _rows(tensor: dict[str, Any], as_text: bool) -> list[Any]:
    shape = tensor.get("shape")
    data = tensor.get("data")
    name = tensor.get("name")
    if not isinstance(shape, list) or not shape or not isinstance(data, list):
        raise RequestError(400, "bad_request", f"tensor '{name}' needs a shape and a data list")
    flat = [_text(item) if as_text else item for item in flatten(data)]
    try:
        dims = [int(dim) for dim in shape]
    except (TypeError, ValueError):
        raise RequestError(400, "bad_request", f"tensor '{name}': the shape must hold integers") from None
    free = [index for index, dim in enumerate(dims) if dim == -1]
    known = math.prod(dim for dim in dims if dim != -1)
    if len(free) == 1 and known > 0 and len(flat) % known == 0:
        dims[free[0]] = len(flat) // known
    if any(dim < 0 for dim in dims) or math.prod(dims) != len(flat):
        raise RequestError(
            400, "bad_request", f"tensor '{name}': cannot reshape {len(flat)} values into shape {shape}"
        )
    return reshape(flat, dims)


def records_from_request(spec: ServingSpec, body: Any) -> list[dict[str, Any]]:
    """Turn {"inputs": [tensor, ...]} into one record per batch row."""
    tensors = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(tensors, list) or not all(isinstance(t, dict) and "name" in t for t in tensors):
        raise RequestError(400, "bad_request", 'expected {"inputs": [{"name", "shape", "datatype", "data"}]}')
    kinds = {field.name: field.type for field in spec.inputs}
    columns = {str(t["name"]): _rows(t, as_text=kinds.get(str(t["name"])) != "image") for t in tensors}
    sizes = {len(rows) for rows in columns.values()}
    if len(sizes) > 1:
        raise validation_failed({"inputs": "every tensor must have the same batch size (first dimension)"})
    count = sizes.pop() if sizes else 0
    records: list[dict[str, Any]] = [{} for _ in range(count)]
    for name, rows in columns.items():
        for record, value in zip(records, rows):
            scalar = kinds.get(name) != "array" and isinstance(value, list) and len(value) == 1
            record[name] = value[0] if scalar else value
    return records


def _text(item: Any) -> Any:
    """A binary BYTES element as text when it is UTF-8 (string fields); other elements unchanged."""
    if isinstance(item, bytes):
        with contextlib.suppress(UnicodeDecodeError):
            return item.decode()
    return item


def _plain(value: Any) -> Any:
    """Numpy arrays and scalars as lists and numbers (without importing numpy); other values unchanged."""
    return value.tolist() if hasattr(value, "tolist") else value


def _datatype(values: list[Any]) -> str:
    """The OIP datatype of a rectangular list of values: BOOL, INT64, FP64 or else BYTES."""
    flat = list(flatten(values))
    if nested_shape(values) is None:
        return "BYTES"
    if flat and all(isinstance(value, bool) for value in flat):
        return "BOOL"
    if all(isinstance(value, int) for value in flat):
        return "INT64" if flat else "FP64"
    if all(isinstance(value, (int, float)) for value in flat):
        return "FP64"
    return "BYTES"


def response(spec: ServingSpec, results: list[dict[str, Any]], request_id: Any) -> dict[str, Any]:
    """Turn one output record per batch row into {"model_name", "outputs": [tensor, ...]}."""
    names = list(results[0]) if results else [field.name for field in spec.outputs]
    declared = {field.name: DATATYPES.get(field.type) for field in spec.outputs}
    outputs = []
    for name in names:
        values = [_plain(result.get(name)) for result in results]
        datatype = _datatype(values) if all(v is not None for v in values) else "BYTES"
        if datatype == "BYTES":
            values = [v if isinstance(v, str) else json.dumps(v) for v in values]
        elif declared.get(name) == "FP32" and datatype != "BOOL":
            datatype = "FP32"
        shape = list(nested_shape(values) or ()) if datatype != "BYTES" else [len(values)]
        flat = list(flatten(values)) if datatype != "BYTES" else values
        outputs.append({"name": name, "datatype": datatype, "shape": shape, "data": flat})
    body: dict[str, Any] = {"model_name": spec.name, "model_version": spec.version, "outputs": outputs}
    if request_id is not None:
        body["id"] = request_id
    return body


def _requested(request: dict[str, Any], outputs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], bool]]:
    """The outputs the request asks for (all when it names none), each with whether to send it binary."""
    parameters = request.get("parameters")
    default = bool(parameters.get("binary_data_output")) if isinstance(parameters, dict) else False
    wanted = request.get("outputs")
    if not isinstance(wanted, list) or not wanted:
        return [(output, default) for output in outputs]
    by_name = {output["name"]: output for output in outputs}
    chosen = []
    for item in wanted:
        name = item.get("name") if isinstance(item, dict) else None
        if name not in by_name:
            raise RequestError(
                400, "bad_request", f"unknown output {name!r}; the model's outputs are {', '.join(by_name)}"
            )
        options = item.get("parameters")
        binary = options.get("binary_data", default) if isinstance(options, dict) else default
        chosen.append((by_name[name], bool(binary)))
    return chosen


def encode_response(request: dict[str, Any], body: dict[str, Any]) -> tuple[bytes, str, dict[str, str]]:
    """The response body, content type and headers: JSON, or a JSON header then the binary outputs."""
    chunks = []
    chosen = _requested(request, body["outputs"])
    for output, binary in chosen:
        if binary:
            raw = tensors.encode(output["datatype"], output.pop("data"))
            output["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
    header = json.dumps(body | {"outputs": [output for output, _ in chosen]}).encode()
    if not chunks:
        return header, "application/json", {}
    return header + b"".join(chunks), BINARY, {"Inference-Header-Content-Length": str(len(header))}
