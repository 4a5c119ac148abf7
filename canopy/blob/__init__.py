"""The artifact store: file:// and azure:// drivers behind one interface."""

from __future__ import annotations

from canopy.blob.base import BlobInfo, BlobStore
from canopy.config import Config
from canopy.drivers import load_driver

DRIVERS = {
    "file": "canopy.blob.file:FileBlobStore",
    "azure": "canopy.blob.azure:AzureBlobStore",
}


def open_blob(url: str, config: Config | None = None) -> BlobStore:
    """Open the store named by url, e.g. file:///var/blobs or azure://container."""
    driver = load_driver("blob", url, DRIVERS)
    store: BlobStore = driver(url, config)
    return store


__all__ = ["BlobInfo", "BlobStore", "open_blob"]
