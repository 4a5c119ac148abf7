"""The model server's routes: /predict, /health, /metrics and the Open Inference Protocol v2."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from platform_sdk.serving import oip
from platform_sdk.serving.metrics import CONTENT_TYPE, ServerMetrics
from platform_sdk.serving.pipeline import Pipeline
from platform_sdk.serving.schema import (
    RequestError,
    coerce_form,
    parse_multipart,
    validate_record,
    validation_failed,
)
from platform_sdk.serving.server import Reply

JSON_TYPE = "application/json"
URLENCODED = "application/x-www-form-urlencoded"  # curl -d sends JSON with this type too
log = logging.getLogger("platform_sdk.serving")


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy arrays and scalars, without importing numpy
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(body: Any, status: int = 200) -> Reply:
    """A JSON reply; numpy values become plain numbers and lists."""
    return Reply(status, json.dumps(body, default=_plain).encode(), JSON_TYPE)


def refusal(status: int, message: str) -> Reply:
    """The error reply for a request the HTTP transport refuses (malformed, or a body over the limit)."""
    code = "payload_too_large" if status == 413 else "bad_request"
    return to_json(RequestError(status, code, message).to_payload(), status)


def worker_header() -> tuple[tuple[str, str], ...]:
    """The header naming the process that answered (one of the replica's workers)."""
    return (("Canopy-Worker", str(os.getpid())),)


class ModelServer:
    """Serves one loaded pipeline: `handle` answers one request, whatever HTTP server carries it."""

    def __init__(self, pipeline: Pipeline, metrics: ServerMetrics) -> None:
        self.pipeline = pipeline
        self.spec = pipeline.spec
        self.metrics = metrics
        model = self.spec.name
        metadata = oip.metadata(self.spec)
        self.gets: dict[str, Callable[[], Reply]] = {
            "/health": lambda: to_json({"status": "ready", "model": model})._replace(headers=worker_header()),
            "/metrics": lambda: Reply(200, metrics.render(), CONTENT_TYPE),
            "/v2": lambda: to_json(oip.SERVER_METADATA),
            "/v2/health/ready": lambda: to_json({"ready": True}),
            "/v2/health/live": lambda: to_json({"live": True}),
        }
        self.infer_paths = set()
        for prefix in (f"/v2/models/{model}", f"/v2/models/{model}/versions/{self.spec.version}"):
            self.gets[prefix] = lambda: to_json(metadata)
            self.gets[f"{prefix}/ready"] = lambda: to_json({"name": model, "ready": True})
            self.infer_paths.add(f"{prefix}/infer")

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Answer one request and record its metrics; /v2 errors have the protocol's {"error": message}."""
        started = time.perf_counter()
        route = path
        try:
            if method == "GET" and path in self.gets:
                reply = self.gets[path]()
            elif method == "POST":
                route, reply = self._post(path, headers, body)
            else:
                raise RequestError(404, "not_found", f"no route {method} {path}; try POST /predict")
        except Exception as exc:
            reply = self._failure(exc, path)
        if reply.status == 404:
            route = "unknown"
        self.metrics.record(route, reply.status, time.perf_counter() - started, len(body), len(reply.payload))
        return reply

    def _failure(self, exc: Exception, path: str) -> Reply:
        if not isinstance(exc, RequestError):
            log.exception("prediction failed")
            exc = RequestError(500, "internal", f"the model failed: {type(exc).__name__}: {exc}")
        if path == "/v2" or path.startswith("/v2/"):
            return to_json(exc.to_oip_payload(), exc.status)
        return to_json(exc.to_payload(), exc.status)

    def _post(self, path: str, headers: dict[str, str], body: bytes) -> tuple[str, Reply]:
        content_type = headers.get("content-type", "")
        if path == "/predict" or path.startswith("/predict/"):
            if content_type.startswith("multipart/form-data"):
                return "/predict", self._predict_form(*parse_multipart(content_type, body))
            if content_type.startswith(URLENCODED) and body.lstrip()[:1] not in (b"{", b"["):
                return "/predict", self._predict_form(dict(parse_qsl(body.decode("utf-8", "replace"))), {})
            return "/predict", self.predict(_decode(body))
        if path in self.infer_paths:
            request = oip.read_request(headers, body)
            payload, content_type, extra = oip.encode_response(request, self.infer(request))
            return "/v2/infer", Reply(200, payload, content_type, tuple(extra.items()))
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
            return to_json({"outputs": self.pipeline.predict_batch(records)})
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

    def infer(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v2/models/{name}/infer: KServe tensors in, tensors out, the rows predicted as one batch."""
        records = []
        for index, record in enumerate(oip.records_from_request(self.spec, body)):
            try:
                records.append(validate_record(self.spec.inputs, record, allow_extra=bool(self.spec.legacy)))
            except RequestError as exc:
                exc.details = {f"{name}[{index}]": problem for name, problem in (exc.details or {}).items()}
                raise
        if self.spec.legacy:
            results = [{"output": self.pipeline.predict_legacy(record)} for record in records]
        else:
            results = self.pipeline.predict_batch(records)
        return oip.response(self.spec, results, body.get("id"))


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise RequestError(400, "bad_request", "the body must be JSON (or a multipart form)") from None
