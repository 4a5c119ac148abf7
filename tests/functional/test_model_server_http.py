"""The model server's HTTP/1.1 transport over real sockets: keep-alive, body limits, chunks, refusals."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from platform_sdk._http import ConnectionPool
from platform_sdk.serving.app import refusal
from platform_sdk.serving.server import HttpServer, Reply

LIMIT = 1024


def echo(method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
    """A handler that answers with what it was given."""
    return Reply(200, f"{method} {path} {headers.get('content-type', '')} ".encode() + body, "text/plain")


@pytest.fixture()
def server() -> Iterator[HttpServer]:
    running = HttpServer(echo, refusal, "127.0.0.1", 0, threads=2, max_body=LIMIT)
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running
    running.close()
    thread.join(timeout=5)


def exchange(server: HttpServer, raw: bytes) -> bytes:
    """Send raw bytes on a new connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_one_connection_carries_many_requests(server: HttpServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.connect()
    local = connection.sock.getsockname()
    for index in range(5):
        connection.request("POST", f"/predict/a%20b?x={index}", b"{}", {"Content-Type": "application/json"})
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"POST /predict/a b application/json {}")
        assert not response.will_close
    assert connection.sock.getsockname() == local
    connection.close()


def test_a_body_over_the_limit_is_refused_before_it_is_read(server: HttpServer) -> None:
    head = f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: {LIMIT + 1}\r\n\r\n".encode()
    answer = exchange(server, head)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in answer and b'"code": "payload_too_large"' in answer


def test_chunked_bodies_and_expect_continue_are_understood(server: HttpServer) -> None:
    raw = (
        b"POST /p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n"
    )
    answer = exchange(server, raw)
    assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
    assert answer.endswith(b"POST /p  abcde")


def test_chunked_bodies_over_the_limit_are_refused(server: HttpServer) -> None:
    chunk = b"%x\r\n" % (LIMIT + 1) + b"x" * (LIMIT + 1) + b"\r\n"
    answer = exchange(
        server, b"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + b"0\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / SPDY/3\r\n\r\n",
        b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: -4\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: \xb2\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n",
    ],
)
def test_malformed_requests_get_a_400_and_the_connection_closes(server: HttpServer, raw: bytes) -> None:
    answer = exchange(server, raw)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b'"code": "bad_request"' in answer


def test_http_1_0_closes_unless_asked_to_keep_alive(server: HttpServer) -> None:
    assert b"Connection: close" in exchange(server, b"GET /health HTTP/1.0\r\n\r\n")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\n"
        )
        answers = b""
        while chunk := sock.recv(65536):
            answers += chunk
    assert answers.count(b"HTTP/1.1 200 OK") == 2 and answers.endswith(b"GET /b  ")


def test_the_client_pool_reconnects_when_the_server_closed_an_idle_connection() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    closed = threading.Event()

    def answer_once_per_connection() -> None:
        for _ in range(3):
            connection, _ = listener.accept()
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            connection.close()  # without saying so: the client still holds the connection as idle
            closed.set()

    thread = threading.Thread(target=answer_once_per_connection, daemon=True)
    thread.start()
    pool = ConnectionPool(f"http://127.0.0.1:{listener.getsockname()[1]}")
    for _ in range(3):
        closed.clear()
        assert pool.request("GET", "/", timeout=5).body == b"ok"
        assert closed.wait(5)
        time.sleep(0.05)
    pool.close()
    listener.close()
    thread.join(timeout=5)
