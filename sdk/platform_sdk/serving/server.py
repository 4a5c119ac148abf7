"""The model server's HTTP/1.1 transport on the standard library: keep-alive, bounded bodies.

A connection's thread lives as long as the connection (no thread is created per request); at most `threads`
requests run the handler at once, and at most `connections` (CONNECTION_LIMIT) connections are open.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple
from urllib.parse import unquote


class Reply(NamedTuple):
    """A handler's answer: status, body, content type, and any further response headers."""

    status: int
    payload: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


Handler = Callable[[str, str, dict[str, str], bytes], Reply]  # method, path, headers (lower case), body
CONNECTION_LIMIT = 240  # a thread each: with the workers' own threads, within a sandbox's 256 pids
IDLE_TIMEOUT = 120.0
MAX_LINE = 65536
MAX_HEADERS = 100
REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    413: "Payload Too Large",
    500: "Internal Server Error",
}


class Refused(Exception):
    """A request the transport answers itself, before the handler, and then closes the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class RequestHead:
    """The request line and headers (names in lower case) of one request."""

    method: str
    path: str
    version: str
    headers: dict[str, str]

    def keep_alive(self) -> bool:
        """Whether the client wants the connection kept after this request (HTTP/1.1 unless it said close)."""
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.1":
            return "close" not in connection
        return "keep-alive" in connection


def _line(stream: BinaryIO) -> bytes:
    line = stream.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise Refused(400, "a request or header line is over 64 KiB")
    return line


def read_head(stream: BinaryIO) -> RequestHead | None:
    """Parse the request line and headers; None when the client closed the connection between requests."""
    line = _line(stream)
    while line in (b"\r\n", b"\n"):  # tolerate blank lines between requests (RFC 9112 2.2)
        line = _line(stream)
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise Refused(400, f"not an HTTP/1.x request line: {line[:80]!r}")
    method, target, version = parts
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        line = _line(stream)
        if line in (b"\r\n", b"\n", b""):
            path = unquote(target.split("?", 1)[0]) if target.startswith("/") else target
            return RequestHead(method, path, version, headers)
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon or not name or name != name.strip():
            raise Refused(400, f"malformed header line {line[:80]!r}")
        key = name.lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    raise Refused(400, f"more than {MAX_HEADERS} headers")


def _chunked(stream: BinaryIO, limit: int) -> bytes:
    body = bytearray()
    while True:
        size_text = _line(stream).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise Refused(400, "malformed chunk size in a chunked body") from None
        if size == 0:
            while _line(stream) not in (b"\r\n", b"\n", b""):
                pass  # trailers are read and ignored
            return bytes(body)
        if len(body) + size > limit:
            raise Refused(413, f"the body is over {limit // 2**20} MiB")
        body += stream.read(size)
        stream.readline(3)


def read_body(stream: BinaryIO, head: RequestHead, limit: int) -> bytes:
    """The request body from Content-Length or chunked transfer coding, refused past `limit` bytes."""
    if "chunked" in head.headers.get("transfer-encoding", "").lower():
        return _chunked(stream, limit)
    text = head.headers.get("content-length")
    if text is None:
        return b""
    if not (text.isascii() and text.isdigit()):
        raise Refused(400, f"bad Content-Length {text[:40]!r}")
    length = int(text)
    if length > limit:
        raise Refused(413, f"the body is over {limit // 2**20} MiB")
    body = stream.read(length) if length else b""
    if len(body) != length:
        raise ConnectionResetError("the client closed the connection inside the body")
    return body


def render(reply: Reply, keep_alive: bool) -> bytes:
    """The whole response as one buffer, so it goes out in one send."""
    status, payload, content_type, headers = reply
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nServer: canopy-model\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n"
    )
    head += "".join(f"{name}: {value}\r\n" for name, value in headers)
    if not keep_alive:
        head += "Connection: close\r\n"
    return head.encode("latin-1") + b"\r\n" + payload


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port."""
    return socket.create_server((host, port), backlog=128, reuse_port=False)


class HttpServer:
    """Serves a handler on host:port (or an open `listener`) until close(); `refusal` renders refusals."""

    def __init__(
        self,
        handler: Handler,
        refusal: Callable[[int, str], Reply],
        host: str,
        port: int,
        *,
        threads: int = 8,
        max_body: int = 32 * 2**20,
        listener: socket.socket | None = None,
        connections: int = CONNECTION_LIMIT,
    ) -> None:
        self.handler = handler
        self.refusal = refusal
        self.max_body = max_body
        self._running = threading.BoundedSemaphore(threads)
        self._connections = threading.BoundedSemaphore(connections)
        self._listener = listener or listen(host, port)  # a worker process accepts on its parent's socket
        self.port = int(self._listener.getsockname()[1])

    def serve_forever(self) -> None:
        """Accept connections (at most `connections` open) until the listening socket is closed."""
        while True:
            self._connections.acquire()
            try:
                sock, _ = self._listener.accept()
            except OSError:
                self._connections.release()
                return
            try:
                threading.Thread(target=self._serve, args=(sock,), daemon=True).start()
            except RuntimeError:  # no thread left under the pids limit: drop this connection, not the server
                sock.close()
                self._connections.release()

    def _serve(self, sock: socket.socket) -> None:
        """Answer requests on one connection until the client closes it, asks to, or stays idle too long."""
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(IDLE_TIMEOUT)
        stream: BinaryIO = sock.makefile("rb", buffering=65536)  # type: ignore[assignment]
        try:
            while self._exchange(sock, stream):
                pass
        except OSError:
            pass  # reset, timed out or closed by the client: nothing to answer
        finally:
            stream.close()
            sock.close()
            self._connections.release()

    def _exchange(self, sock: socket.socket, stream: BinaryIO) -> bool:
        """Read one request, answer it; whether the connection stays open."""
        try:
            head = read_head(stream)
            if head is None:
                return False
            if head.headers.get("expect", "").lower() == "100-continue":
                sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = read_body(stream, head, self.max_body)
        except Refused as refused:
            sock.sendall(render(self.refusal(refused.status, refused.message), keep_alive=False))
            return False
        with self._running:
            reply = self.handler(head.method, head.path, head.headers, body)
        keep_alive = head.keep_alive()
        sock.sendall(render(reply, keep_alive))
        return keep_alive

    def close(self) -> None:
        """Stop accepting; open connections end when their clients close them."""
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        self._listener.close()
