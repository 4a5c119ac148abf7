"""Keep-alive HTTP on the standard library: a thread-safe connection pool per server, and multipart bodies."""

from __future__ import annotations

import http.client
import secrets
import select
import socket
import threading
from typing import Any, BinaryIO, NamedTuple
from urllib.parse import urlsplit

IDLE_CONNECTIONS = 32


class HttpFailure(Exception):
    """The server answered with something that is not HTTP, or the exchange failed midway."""


class Unreachable(HttpFailure):
    """No connection could be made, or the server dropped it before answering; another server may answer."""


class TimedOut(HttpFailure):
    """The server took the request but did not answer within the timeout."""


class Response(NamedTuple):
    """A whole HTTP response: status, headers and body."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes


def encode_multipart(fields: dict[str, tuple[str, bytes | BinaryIO]]) -> tuple[bytes, str]:
    """A multipart/form-data body of file fields {name: (filename, bytes or a binary file)}, and its type."""
    boundary = secrets.token_hex(16)
    parts = []
    for name, (filename, data) in fields.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        content = data if isinstance(data, bytes) else data.read()
        parts.append(head.encode() + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _dropped(sock: socket.socket | None) -> bool:
    """Whether an idle keep-alive socket was closed by the server (it is readable while idle)."""
    if sock is None:
        return True
    poller = select.poll()  # unlike select(), works for descriptors above 1024
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class ConnectionPool:
    """Idle keep-alive connections to one http(s) server, shared by threads (one request per connection)."""

    def __init__(self, url: str, size: int = IDLE_CONNECTIONS) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url} is not an http(s) URL")
        self.url = url.rstrip("/")
        self.prefix = parts.path.rstrip("/")
        self._factory = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._address = (parts.hostname, parts.port)
        self._idle: list[http.client.HTTPConnection] = []
        self._size = size
        self._lock = threading.Lock()

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        """A connected connection: an idle one still open, or a new one (raises Unreachable)."""
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                break
            if not _dropped(connection.sock):
                connection.sock.settimeout(timeout)  # type: ignore[union-attr]
                return connection
            connection.close()
        connection = self._factory(*self._address, timeout=timeout)
        try:
            connection.connect()
        except OSError as exc:
            connection.close()
            raise Unreachable(f"cannot connect to {self.url}: {exc}") from exc
        return connection

    def release(self, connection: http.client.HTTPConnection) -> None:
        """Keep a connection whose response was read fully for the next request, or close it."""
        with self._lock:
            if len(self._idle) < self._size:
                self._idle.append(connection)
                return
        connection.close()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> Response:
        """Send one request and read the whole answer; raises Unreachable, TimedOut or HttpFailure."""
        connection = self.connection(timeout)
        try:
            connection.request(method, self.prefix + path, body, headers or {})
            response = connection.getresponse()
            data = response.read()
        except socket.timeout as exc:  # not TimeoutError on Python 3.9
            connection.close()
            raise TimedOut(f"{self.url} did not answer within {timeout} s") from exc
        except ConnectionError as exc:
            connection.close()
            raise Unreachable(f"{self.url} dropped the connection: {exc}") from exc
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise HttpFailure(f"HTTP exchange with {self.url} failed: {exc}") from exc
        if response.will_close:
            connection.close()
        else:
            self.release(connection)
        return Response(response.status, response.headers, data)

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
