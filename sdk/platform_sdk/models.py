"""model_call: predict with a deployed model over its live replicas (from inside an app: via the gateway)."""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from platform_sdk._client import ApiClient, shared_client
from platform_sdk._http import ConnectionPool, HttpFailure, TimedOut, Unreachable, encode_multipart
from platform_sdk.errors import CanopyError, Timeout, Unavailable, error_from_payload
from platform_sdk.instance import inside_instance, instance_view

RESOLVE_TTL = 30.0
QUARANTINE = 5.0
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


class _ReplicaUnreachable(Exception):
    """A replica refused or dropped the connection; another replica may answer."""


@dataclass
class _Route:
    """The live endpoints of one model, as the gateway last reported them."""

    endpoints: list[str]
    expires: float
    turn: itertools.count[int] = field(default_factory=itertools.count)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} cannot be sent to a model; use JSON values, bytes or arrays")


def encode_request(data: Any) -> tuple[bytes, dict[str, str]]:
    """The /predict body: {"inputs": data} as JSON, or a multipart 'image' upload when data is bytes."""
    if isinstance(data, (bytes, bytearray)):
        body, content_type = encode_multipart({"image": ("image", bytes(data))})
        return body, {"Content-Type": content_type, "Accept": "application/json"}
    return json.dumps({"inputs": data}, default=_jsonable).encode(), JSON_HEADERS


class ModelClient:
    """Resolves model names to replicas through the gateway (cached), balances and retries calls."""

    def __init__(
        self,
        api: ApiClient | None = None,
        ttl: float = RESOLVE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._ttl = ttl
        self._clock = clock
        self._routes: dict[str, _Route] = {}
        self._pools: dict[str, ConnectionPool] = {}
        self._down: dict[str, float] = {}
        self._lock = threading.Lock()

    def call(self, name_or_id: str, data: Any, timeout: float = 10.0) -> Any:
        """Predict; returns the model's outputs (a legacy model's whole {"output": ...} body)."""
        body, headers = encode_request(data)
        tried: list[str] = []
        for _ in range(2):
            endpoint = self._pick(name_or_id, tried)
            if endpoint is None:
                break
            try:
                return self._send(endpoint, body, headers, timeout)
            except _ReplicaUnreachable:
                tried.append(endpoint)
                self._mark_down(name_or_id, endpoint)
        raise Unavailable(
            f"no replica of model '{name_or_id}' answered (tried {', '.join(tried) or 'none'}); "
            "check `canopy model show` and deploy or scale it"
        )

    def _pick(self, name: str, tried: list[str]) -> str | None:
        """The next replica in round-robin order, skipping ones that failed; re-resolves when none is left."""
        route = self._routes.get(name)
        now = self._clock()
        if route is None or route.expires <= now:
            route = self._resolve(name)
        candidates = [e for e in route.endpoints if e not in tried and self._down.get(e, 0.0) <= now]
        if not candidates and tried:
            route = self._resolve(name)
            candidates = [e for e in route.endpoints if e not in tried]
        if not candidates:
            candidates = [e for e in route.endpoints if e not in tried]
        return candidates[next(route.turn) % len(candidates)] if candidates else None

    def _resolve(self, name: str) -> _Route:
        """Ask the gateway for the model's ready replicas; keep a stale answer if the gateway is down."""
        with self._lock:
            cached = self._routes.get(name)
            now = self._clock()
            if cached is not None and cached.expires > now:
                return cached
            try:
                api = self._api = self._api or shared_client()
                answer = api.get(f"/api/v1/models/{quote(name, safe='')}/endpoints")
            except (Unavailable, Timeout):
                if cached is None:
                    raise
                cached.expires = now + QUARANTINE
                return cached
            endpoints = [str(e).rstrip("/") for e in (answer or {}).get("endpoints", [])]
            # No replica yet (a model still deploying): ask again soon rather than after the full TTL.
            route = _Route(endpoints, now + (self._ttl if endpoints else min(self._ttl, QUARANTINE)))
            self._routes[name] = route
            return route

    def _mark_down(self, name: str, endpoint: str) -> None:
        """Keep a failed replica out of rotation for a while and re-resolve on the next call."""
        self._down[endpoint] = self._clock() + QUARANTINE
        route = self._routes.get(name)
        if route is not None:
            route.expires = 0.0

    def _pool(self, endpoint: str) -> ConnectionPool:
        pool = self._pools.get(endpoint)
        if pool is None:
            with self._lock:
                pool = self._pools.get(endpoint)
                if pool is None:
                    try:
                        pool = self._pools[endpoint] = ConnectionPool(endpoint)
                    except ValueError:
                        raise Unavailable(f"replica address {endpoint} is not an http(s) URL") from None
        return pool

    def _send(self, endpoint: str, body: bytes, headers: dict[str, str], timeout: float) -> Any:
        """POST /predict to one replica and decode its answer or its error."""
        try:
            response = self._pool(endpoint).request("POST", "/predict", body, headers, timeout)
        except Unreachable as exc:
            raise _ReplicaUnreachable(str(exc)) from exc
        except TimedOut as exc:
            raise Timeout(f"the model at {endpoint} did not answer within {timeout} s") from exc
        except HttpFailure as exc:
            raise Unavailable(f"calling the model at {endpoint} failed: {exc}") from exc
        try:
            answer = json.loads(response.body)
        except ValueError:
            answer = None
        if response.status >= 400:
            raise error_from_payload(response.status, answer)
        if not isinstance(answer, dict):
            raise CanopyError(f"the model at {endpoint} answered with a body that is not a JSON object")
        return answer.get("outputs", answer)

    def close(self) -> None:
        """Close every pooled connection."""
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


_shared: ModelClient | None = None
_shared_lock = threading.Lock()


def model_call(name_or_id: str, data: Any, timeout: float = 10.0) -> Any:
    """Predict with a deployed model; returns its outputs (a legacy model's whole {"output": ...} answer).

    Inside an app instance `name_or_id` is a model name the app declared (legacy apps: model_<i>),
    called through the gateway (the one address a docker workload reaches); elsewhere a model id or
    name, called on its replicas directly. The gateway is CANOPY_API_URL, called with CANOPY_TOKEN.
    """
    global _shared
    if inside_instance():
        api = shared_client()
        return call_through_gateway(api, instance_view(api).model_id(name_or_id), data)
    client = _shared
    if client is None:
        with _shared_lock:
            client = _shared = _shared or ModelClient()
    return client.call(name_or_id, data, timeout)


def call_through_gateway(api: ApiClient, model_id: str, data: Any) -> Any:
    """Predict via POST /api/v1/models/<id>/predict, which the gateway forwards to a ready replica."""
    body, headers = encode_request(data)
    answer = api.post(f"/api/v1/models/{quote(model_id, safe='')}/predict", data=body, headers=headers)
    if not isinstance(answer, dict):
        raise CanopyError(f"model {model_id} answered with a body that is not a JSON object")
    return answer.get("outputs", answer)
