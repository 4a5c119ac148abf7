"""Serve the gateway app with waitress on a thread, as a service component."""

from __future__ import annotations

import threading

from flask import Flask
from waitress.server import create_server


class HttpServer:
    """A waitress server for a WSGI app on host:port (port 0 picks a free one)."""

    name = "http"

    def __init__(self, app: Flask, host: str, port: int, threads: int = 8) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.threads = threads
        self._server: object | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind the socket and start serving."""
        server = create_server(
            self.app,
            host=self.host,
            port=self.port,
            threads=self.threads,
            ident="canopy",
            clear_untrusted_proxy_headers=True,
        )
        self.port = int(server.effective_port)  # type: ignore[union-attr]
        self._server = server
        self._thread = threading.Thread(target=server.run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the listening socket and finish in-flight requests."""
        if self._server is not None:
            self._server.close()  # type: ignore[attr-defined]
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def url(self) -> str:
        """The base URL the server answers on."""
        return f"http://{self.host}:{self.port}"
