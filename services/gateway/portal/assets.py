"""Static files with content fingerprints in their URLs, served by the gateway itself (no CDN)."""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from flask import Response

from canopy.errors import NotFound

HERE = Path(__file__).parent
# Logical name -> file: the portal's own files, and the npm libraries it serves (package.json).
FILES = {
    "portal.css": HERE / "static" / "portal.css",
    "portal.js": HERE / "static" / "portal.js",
    "uplot.js": HERE / "node_modules" / "uplot" / "dist" / "uPlot.iife.min.js",
    "uplot.css": HERE / "node_modules" / "uplot" / "dist" / "uPlot.min.css",
}
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    """One static file: its body, type and fingerprinted file name."""

    body: bytes
    mimetype: str
    fingerprinted: str


class Assets:
    """Every static file, read and fingerprinted once at start-up."""

    def __init__(self, files: dict[str, Path] = FILES) -> None:
        missing = [str(path) for path in files.values() if not path.is_file()]
        if missing:
            raise RuntimeError(
                f"portal assets are missing: {', '.join(missing)}; run `make install` (npm ci) first"
            )
        self._by_name: dict[str, Asset] = {}
        self._by_url: dict[str, Asset] = {}
        for name, path in files.items():
            body = path.read_bytes()
            stem, _, suffix = name.rpartition(".")
            fingerprinted = f"{stem}.{hashlib.sha256(body).hexdigest()[:12]}.{suffix}"
            mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
            asset = Asset(body, mimetype, fingerprinted)
            self._by_name[name] = asset
            self._by_url[fingerprinted] = asset

    def url_name(self, name: str) -> str:
        """The fingerprinted file name of a logical asset name."""
        return self._by_name[name].fingerprinted

    def response(self, fingerprinted: str) -> Response:
        """The file under its fingerprinted name, cacheable forever; NotFound otherwise."""
        asset = self._by_url.get(fingerprinted)
        if asset is None:
            raise NotFound(f"no static file {fingerprinted!r}")
        response = Response(asset.body, mimetype=asset.mimetype)
        response.headers["Cache-Control"] = IMMUTABLE
        return response
