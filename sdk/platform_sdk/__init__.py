"""The Canopy platform SDK: a small facade over the platform's REST API and bus."""

from __future__ import annotations

from platform_sdk._client import ApiClient, default_client

__all__ = ["ApiClient", "default_client"]
