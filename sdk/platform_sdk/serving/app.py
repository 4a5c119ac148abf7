"""The model server's WSGI application (/predict, /health, /metrics, OIP v2) and its Prometheus metrics."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, generate_latest

from platform_sdk.serving import oip
from platform_sdk.serving.pipeline import Pipeline
from platform_sdk.serving.schema import (
    RequestError,
    coerce_form,
    parse_multipart,
    validate_record,
    validation_failed,
)

MAX_BODY = 32 * 1024 * 1024
JSON_TYPE = "application/json"
URLENCODED = "application/x-www-form-urlencoded"  # curl -d sends JSON with this type too
StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Reply = tuple[int, bytes, str]
log = logging.getLogger("platform_sdk.serving")
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServerMetrics:
    """The replica's own registry, labelled with the model's name and id."""

    def __init__(self, model: str, model_id: str) -> None:
        self.registry = CollectorRegistry()
        self._model = (model, model_id)
        names = ["model", "model_id"]
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "canopy_model_requests",
            "Requests handled, by route and HTTP status",
            [*names, "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "canopy_model_request_seconds",
            "Time from request to response, by route",
            [*names, "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.inference = Histogram(
            "canopy_model_inference_seconds",
            "Time spent inside the model call",
            names,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        ).labels(*self._model)
        self.bytes_in = Counter(
            "canopy_model_request_bytes", "Request body bytes received", names, registry=self.registry
        ).labels(*self._model)
        self.bytes_out = Counter(
            "canopy_model_response_bytes", "Response body bytes sent", names, registry=self.registry
        ).labels(*self._model)

    def record(self, route: str, status: int, seconds: float, received: int, sent: int) -> None:
        """Count one finished request."""
        self.requests.labels(*self._model, route, str(status)).inc()
        self.latency.labels(*self._model, route).observe(seconds)
        self.bytes_in.inc(received)
        self.bytes_out.inc(sent)

    def render(self) -> bytes:
        """The text exposition of every metric, including process memory and CPU."""
        return generate_latest(self.registry)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(body: Any, status: int = 200) -> Reply:
    """A JSON reply; numpy values become plain numbers and lists."""
    return status, json.dumps(body, default=_plain).encode(), JSON_TYPE


class ModelServer:
    """Serves one loaded pipeline; callable as a WSGI application by any threaded server."""

    def __init__(self, pipeline: Pipeline, metrics: ServerMetrics) -> None:
        self.pipeline = pipeline
        self.spec = pipeline.spec
        self.metrics = metrics
        model = self.spec.name
        self.gets: dict[str, Callable[[], Reply]] = {
            "/health": lambda: to_json({"status": "ready", "model": model}),
            "/metrics": lambda: (200, metrics.render(), CONTENT_TYPE),
            "/v2": lambda: to_json({"name": "canopy-model-server", "extensions": []}),
            "/v2/health/ready": lambda: to_json({"ready": True}),
            "/v2/health/live": lambda: to_json({"live": True}),
            f"/v2/models/{model}": lambda: to_json(oip.metadata(self.spec)),
            f"/v2/models/{model}/versions/{self.spec.version}": lambda: to_json(oip.metadata(self.spec)),
            f"/v2/models/{model}/ready": lambda: to_json({"name": model, "ready": True}),
        }
        versioned = f"/v2/models/{model}/versions/{self.spec.version}"
        self.infer_paths = {f"/v2/models/{model}/infer", f"{versioned}/infer"}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Handle one request and record its metrics."""
        started = time.perf_counter()
        path, method = environ.get("PATH_INFO", "/"), environ["REQUEST_METHOD"]
        route, received = path, 0
        try:
            if method == "GET" and path in self.gets:
                status, payload, content_type = self.gets[path]()
            elif method == "POST":
                body = self._read(environ)
                received = len(body)
                route, (status, payload, content_type) = self._post(path, environ, body)
            else:
                raise RequestError(404, "not_found", f"no route {method} {path}; try POST /predict")
        except RequestError as exc:
            status, payload, content_type = to_json(exc.to_payload(), exc.status)
        except Exception as exc:
            log.exception("prediction failed")
            error = RequestError(500, "internal", f"the model failed: {type(exc).__name__}: {exc}")
            status, payload, content_type = to_json(error.to_payload(), 500)
        if status == 404:
            route = "unknown"
        headers = [("Content-Type", content_type), ("Content-Length", str(len(payload)))]
        start_response(f"{status} {STATUS_TEXT.get(status, 'Error')}", headers)
        self.metrics.record(route, status, time.perf_counter() - started, received, len(payload))
        return [payload]

    def _read(self, environ: dict[str, Any]) -> bytes:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_BODY:
            raise RequestError(413, "payload_too_large", f"the body is over {MAX_BODY // 2**20} MiB")
        return bytes(environ["wsgi.input"].read(length)) if length else b""

    def _post(self, path: str, environ: dict[str, Any], body: bytes) -> tuple[str, Reply]:
        if path == "/predict" or path.startswith("/predict/"):
            content_type = environ.get("CONTENT_TYPE", "")
            if content_type.startswith("multipart/form-data"):
                return "/predict", self._predict_form(*parse_multipart(content_type, body))
            if content_type.startswith(URLENCODED) and body.lstrip()[:1] not in (b"{", b"["):
                return "/predict", self._predict_form(dict(parse_qsl(body.decode("utf-8", "replace"))), {})
            return "/predict", self.predict(_decode(body))
        if path in self.infer_paths:
            return "/v2/infer", self.infer(_decode(body))
        raise RequestError(404, "not_found", f"no route POST {path}; try POST /predict")

    def predict(self, body: Any) -> Reply:
        """POST /predict with a JSON body: {"inputs": record or [records]} or a bare record."""
        inputs = body["inputs"] if isinstance(body, dict) and set(body) == {"inputs"} else body
        legacy = self.spec.legacy
        if legacy:
            record = validate_record(self.spec.inputs, inputs, allow_extra=True)
            if legacy.input_kind == "image":
                return self._predict_image(record[legacy.image_field], ".img")
            return to_json({legacy.response_key: self.pipeline.predict_legacy(record)})
        if isinstance(inputs, list):
            records = [validate_record(self.spec.inputs, item) for item in inputs]
            return to_json({"outputs": [self.pipeline.predict(record) for record in records]})
        return to_json({"outputs": self.pipeline.predict(validate_record(self.spec.inputs, inputs))})

    def _predict_form(self, form: dict[str, Any], filenames: dict[str, str]) -> Reply:
        legacy = self.spec.legacy
        if legacy is None or legacy.input_kind != "image":
            return self.predict(coerce_form(self.spec.inputs, form))
        upload = form.get(legacy.image_field)
        if not isinstance(upload, bytes):
            raise validation_failed({legacy.image_field: "must be a file upload (multipart form field)"})
        suffix = os.path.splitext(filenames.get(legacy.image_field, ""))[1] or ".img"
        return self._predict_image(upload, suffix)

    def _predict_image(self, image: bytes, suffix: str) -> Reply:
        """The legacy image call: the upload saved to a temporary file whose path goes to preprocess."""
        key = self.spec.legacy.response_key if self.spec.legacy else "output"
        with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
            handle.write(image)
            handle.flush()
            return to_json({key: self.pipeline.predict_legacy(handle.name)})

    def infer(self, body: Any) -> Reply:
        """POST /v2/models/{name}/infer: KServe tensors in, tensors out, one pipeline run per row."""
        results = []
        for index, record in enumerate(oip.records_from_request(self.spec, body)):
            try:
                clean = validate_record(self.spec.inputs, record, allow_extra=bool(self.spec.legacy))
            except RequestError as exc:
                exc.details = {f"{name}[{index}]": problem for name, problem in (exc.details or {}).items()}
                raise
            if self.spec.legacy:
                results.append({"output": self.pipeline.predict_legacy(clean)})
            else:
                results.append(self.pipeline.predict(clean))
        request_id = body.get("id") if isinstance(body, dict) else None
        return to_json(oip.response(self.spec, results, request_id))


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise RequestError(400, "bad_request", "the body must be JSON (or a multipart form)") from None


STATUS_TEXT = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large", 500: "Error"}
