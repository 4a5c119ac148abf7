"""A keep-alive HTTP client for the gateway that raises the same error classes the server raised."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from canopy.config import load_config
from canopy.errors import CanopyError, Unavailable, error_from_payload

CREDENTIALS_FILE = "credentials.json"


class ApiClient:
    """Calls /api/v1 on one gateway with one bearer token."""

    def __init__(self, api_url: str, token: str = "", timeout: float = 30.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._session = requests.Session()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request; return the decoded JSON (None for an empty body) or raise a CanopyError."""
        headers = dict(kwargs.pop("headers", {}))
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        url = f"{self.api_url}{path}"
        try:
            response = self._session.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
        except requests.ConnectionError as exc:
            raise Unavailable(
                f"cannot reach the Canopy API at {self.api_url}; is `canopy up` running?"
            ) from exc
        except requests.Timeout as exc:
            raise Unavailable(f"the Canopy API at {self.api_url} did not answer in {self.timeout} s") from exc
        try:
            body = _decode(response)
        finally:
            response.close()
        if response.status_code >= 400:
            raise error_from_payload(response.status_code, body)
        return body

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
        self._session.close()


def _decode(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        if response.status_code >= 400:
            raise CanopyError(f"HTTP {response.status_code}: {response.text[:200]}") from None
        return response.text


def credentials_path(home: Path | None = None) -> Path:
    """Where `canopy login` keeps tokens, per API URL (under CANOPY_HOME unless `home` is given)."""
    return (home or load_config().home) / CREDENTIALS_FILE


def saved_tokens(path: Path) -> dict[str, str]:
    """Tokens saved by `canopy login` in the credentials file at `path`, keyed by API URL."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def save_token(api_url: str, token: str | None) -> None:
    """Store (or with None, forget) the token for an API URL, readable by the owner only."""
    path = credentials_path()
    tokens = saved_tokens(path)
    if token is None:
        tokens.pop(api_url, None)
    else:
        tokens[api_url] = token
    temporary = path.with_suffix(".tmp")
    temporary.touch(mode=0o600)
    temporary.write_text(json.dumps(tokens, indent=2))
    temporary.replace(path)


def default_client() -> ApiClient:
    """A client for CANOPY_API_URL using CANOPY_TOKEN, or else the token saved by `canopy login`."""
    config = load_config()
    api_url = config.api_url.rstrip("/")
    return ApiClient(api_url, config.token or saved_tokens(credentials_path(config.home)).get(api_url, ""))
