"""A keep-alive HTTP client for the gateway that raises the same error classes the server raised."""

from __future__ import annotations

import http.client
import json
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlencode

from platform_sdk import environment
from platform_sdk._http import ConnectionPool, HttpFailure, TimedOut, encode_multipart
from platform_sdk.errors import CanopyError, ConfigError, Unavailable, error_from_payload

CREDENTIALS_FILE = "credentials.json"


class ApiClient:
    """Calls /api/v1 on one gateway with one bearer token."""

    def __init__(self, api_url: str, token: str = "", timeout: float = 30.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        try:
            self._pool = ConnectionPool(self.api_url, size=4)
        except ValueError:
            raise ConfigError(
                f"the Canopy API URL {api_url!r} is not an http(s) URL; set CANOPY_API_URL=http://host:port"
            ) from None

    def _prepare(
        self,
        path: str,
        params: dict[str, Any] | None,
        headers: dict[str, str] | None,
    ) -> tuple[str, dict[str, str]]:
        """The request target with its query string, and the headers with the bearer token."""
        query = {name: value for name, value in (params or {}).items() if value is not None}
        target = f"{path}?{urlencode(query)}" if query else path
        sent = dict(headers or {})
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        return target, sent

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Any = None,
        files: dict[str, tuple[str, bytes | BinaryIO]] | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Send a request; return the decoded JSON (None for an empty body) or raise a CanopyError.

        The body is `json` (encoded), `files` ({field: (filename, bytes)}, multipart) or `data` (bytes or a
        file-like object with a length, streamed).
        """
        target, sent = self._prepare(path, params, headers)
        body = data
        if json is not None:
            body = _json_bytes(json)
            sent.setdefault("Content-Type", "application/json")
        elif files is not None:
            body, sent["Content-Type"] = encode_multipart(files)
        if body is not None:
            sent["Content-Length"] = str(len(body))
        try:
            response = self._pool.request(method, target, body, sent, self.timeout)
        except TimedOut as exc:
            raise Unavailable(f"the Canopy API at {self.api_url} did not answer in {self.timeout} s") from exc
        except HttpFailure as exc:
            raise Unavailable(
                f"cannot reach the Canopy API at {self.api_url}; is `canopy up` running? ({exc})"
            ) from exc
        answer = _decode(response.status, response.body)
        if response.status >= 400:
            raise error_from_payload(response.status, answer)
        return answer

    def stream_lines(self, path: str, params: dict[str, Any], read_timeout: float = 60.0) -> Iterator[str]:
        """The lines of a long response (server-sent events) as they arrive, on a connection of its own."""
        target, sent = self._prepare(path, params, {"Accept": "text/event-stream"})
        try:
            connection = self._pool.connection(timeout=10.0)
        except HttpFailure as exc:
            raise Unavailable(f"cannot stream from the Canopy API at {self.api_url}: {exc}") from exc
        try:
            connection.sock.settimeout(read_timeout)  # type: ignore[union-attr]
            connection.request("GET", self._pool.prefix + target, headers=sent)
            response = connection.getresponse()
            if response.status >= 400:
                raise error_from_payload(response.status, _decode(response.status, response.read()))
            for raw in iter(response.readline, b""):
                yield raw.decode("utf-8", "replace").rstrip("\r\n")
        except (OSError, http.client.HTTPException) as exc:
            raise Unavailable(f"the stream from the Canopy API at {self.api_url} broke: {exc}") from exc
        finally:
            connection.close()

    def get(self, path: str, **kwargs: Any) -> Any:
        """GET path."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        """POST path."""
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        """DELETE path."""
        return self.request("DELETE", path, **kwargs)

    def close(self) -> None:
        """Close pooled connections."""
        self._pool.close()


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


def _decode(status: int, body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace")
        if status >= 400:
            raise CanopyError(f"HTTP {status}: {text[:200]}") from None
        return text


def credentials_path(home: Path | None = None) -> Path:
    """Where `canopy login` keeps tokens, per API URL (under CANOPY_HOME unless `home` is given)."""
    return (home or environment.canopy_home()) / CREDENTIALS_FILE


def saved_tokens(path: Path) -> dict[str, str]:
    """Tokens saved by `canopy login` in the credentials file at `path`, keyed by API URL."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        raise ConfigError(
            f"{path} is not a JSON credentials file; delete it and run `canopy login`"
        ) from None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def save_token(api_url: str, token: str | None) -> None:
    """Store (or with None, forget) the token for an API URL, readable by the owner only."""
    path = credentials_path()
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    tokens = saved_tokens(path)
    if token is None:
        tokens.pop(api_url, None)
    else:
        tokens[api_url] = token
    temporary = path.with_suffix(".tmp")
    temporary.touch(mode=0o600)
    temporary.write_text(json.dumps(tokens, indent=2))
    temporary.replace(path)


def gateway_settings(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The API URL and token: CANOPY_API_URL, and CANOPY_TOKEN or else the token saved by `canopy login`."""
    api_url = environment.api_url(environ)
    token = environment.token(environ)
    if not token:
        token = saved_tokens(credentials_path(environment.canopy_home(environ))).get(api_url, "")
    return api_url, token


def default_client(environ: Mapping[str, str] | None = None) -> ApiClient:
    """A new client for CANOPY_API_URL using CANOPY_TOKEN, or else the token saved by `canopy login`."""
    return ApiClient(*gateway_settings(environ))


_shared: dict[tuple[str, str, int], ApiClient] = {}
_shared_lock = threading.Lock()


def shared_client() -> ApiClient:
    """The default client kept per gateway, token and process, so the SDK's calls reuse its connections."""
    api_url, token = gateway_settings()
    key = (api_url, token, os.getpid())
    with _shared_lock:
        client = _shared.get(key)
        if client is None:
            client = _shared[key] = ApiClient(api_url, token)
        return client
