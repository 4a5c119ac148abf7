"""Serve the gateway app with waitress on a thread, as a service component."""

from __future__ import annotations

import copy
import threading
from typing import Any

from flask import Flask
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import create_server

from services.gateway.context import GatewayContext
from services.gateway.limits import body_limit


class RouteLimitedParser(HTTPRequestParser):  # type: ignore[misc]
    """Applies the route's body limit once the headers are in, so an oversized body is never read."""

    def parse_header(self, header_plus: bytes) -> None:
        """Parse the headers, then narrow the body limit to the one of the requested route."""
        super().parse_header(header_plus)
        self.adj = copy.copy(self.adj)
        authorization = str(self.headers.get("AUTHORIZATION", ""))
        cookie = str(self.headers.get("COOKIE", ""))
        limit = body_limit(str(self.command), str(getattr(self, "path", "")), authorization, cookie)
        self.adj.max_request_body_size = limit + 1


class RouteLimitedChannel(HTTPChannel):  # type: ignore[misc]
    """A waitress channel whose requests are parsed by RouteLimitedParser."""

    parser_class = RouteLimitedParser


class HttpServer:
    """A waitress server for a WSGI app on host:port (port 0 picks a free one).

    `threads` serve ordinary requests; `long_lived` more serve device streams and command waits,
    whose number the gateway bounds (see services.gateway.slots), so they never starve requests.
    """

    name = "http"

    def __init__(self, app: Flask, host: str, port: int, threads: int = 8, long_lived: int | None = None):
        self.app = app
        self.host = host
        self.port = port
        self.context: GatewayContext | None = app.extensions.get("canopy")
        if long_lived is None:
            long_lived = self.context.slots.total if self.context is not None else 0
        self.threads = threads + long_lived
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind the socket and start serving."""
        server: Any = create_server(
            self.app,
            host=self.host,
            port=self.port,
            threads=self.threads,
            ident="canopy",
            clear_untrusted_proxy_headers=True,
        )
        server.channel_class = RouteLimitedChannel
        self.port = int(server.effective_port)
        self._server = server
        if self.context is not None:
            self.context.feed.start()
        self._thread = threading.Thread(target=server.run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the listening socket, finish in-flight requests and stop the gateway's background work."""
        if self._server is not None:
            self._server.close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.context is not None:
            self.context.close()

    @property
    def url(self) -> str:
        """The base URL the server answers on."""
        return f"http://{self.host}:{self.port}"
