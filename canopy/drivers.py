"""Choose a backend implementation from a URL scheme through a driver table."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from urllib.parse import urlsplit

from canopy.errors import driver_not_found


def scheme_of(url: str) -> str:
    """The scheme of a backend URL, lower-cased."""
    return urlsplit(url).scheme.lower()


def load_driver(kind: str, url: str, table: Mapping[str, str]) -> type:
    """Import the class registered for the URL's scheme ('module:Class'), or say which one was meant."""
    scheme = scheme_of(url)
    target = table.get(scheme)
    if target is None:
        raise driver_not_found(kind, scheme, list(table))
    module_name, class_name = target.split(":")
    driver: type = getattr(importlib.import_module(module_name), class_name)
    return driver
