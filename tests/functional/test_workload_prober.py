"""The workload prober: /health verdicts, pages, keep-alive reuse, dropped connections and its bound."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from canopy.workloads.runtime import MODEL_PROBE, Probe, Prober

PAGE = Probe("/", health=False)


class _Replica(BaseHTTPRequestHandler):
    """Answers /health with the server's `health` body and status; counts the connections it accepted."""

    protocol_version = "HTTP/1.1"
    timeout = 0.3  # an idle keep-alive connection is closed after this long

    def setup(self) -> None:
        """Count the connection."""
        super().setup()
        self.server.connections += 1  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        """The configured answer, keeping the connection open."""
        status, body = self.server.answer  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        """Quiet."""


@pytest.fixture
def replica() -> Iterator[ThreadingHTTPServer]:
    """A replica on a free port of 127.0.0.1 answering ready."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Replica)
    server.daemon_threads = True
    server.answer = (200, b'{"status": "ready"}')  # type: ignore[attr-defined]
    server.connections = 0  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _endpoint(server: ThreadingHTTPServer) -> str:
    """The server's base URL."""
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.mark.parametrize(
    ("answer", "ready"),
    [
        ((200, b'{"status": "ready"}'), True),
        ((200, b'{"status": "loading"}'), False),
        ((503, b'{"status": "ready"}'), False),
        ((200, b"not json"), False),
        ((200, b'["ready"]'), False),
    ],
)
def test_a_model_is_ready_only_when_health_says_ready(
    replica: ThreadingHTTPServer, answer: tuple[int, bytes], ready: bool
) -> None:
    replica.answer = answer  # type: ignore[attr-defined]
    assert Prober().answers(_endpoint(replica), MODEL_PROBE) is ready


def test_a_page_passes_with_any_answer_and_a_closed_port_fails(replica: ThreadingHTTPServer) -> None:
    replica.answer = (404, b"")  # type: ignore[attr-defined]
    prober = Prober()
    assert prober.answers(_endpoint(replica), PAGE)
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{spare.getsockname()[1]}"
    assert not prober.answers(closed, MODEL_PROBE, timeout=0.5)
    assert prober.answers("no-scheme", Probe("", health=False))  # no HTTP check: nothing is asked
    assert not prober.answers("ftp://127.0.0.1:1", MODEL_PROBE)


def test_probes_reuse_one_connection_and_reconnect_after_the_server_dropped_it(
    replica: ThreadingHTTPServer,
) -> None:
    prober = Prober()
    for _ in range(3):
        assert prober.answers(_endpoint(replica), MODEL_PROBE)
    assert replica.connections == 1  # type: ignore[attr-defined]
    time.sleep(0.6)  # the server closes the idle connection meanwhile
    assert prober.answers(_endpoint(replica), MODEL_PROBE)
    assert replica.connections == 2  # type: ignore[attr-defined]


def test_a_hung_replica_fails_within_the_timeout() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        assert not Prober().answers(f"http://127.0.0.1:{silent.getsockname()[1]}", MODEL_PROBE, timeout=0.3)


def test_connections_are_kept_for_the_most_recent_endpoints_only(replica: ThreadingHTTPServer) -> None:
    prober = Prober(endpoints=1)
    assert prober.answers(_endpoint(replica), MODEL_PROBE)
    assert prober.answers(_endpoint(replica) + "/", MODEL_PROBE)  # a second endpoint evicts the first
    assert prober.answers(_endpoint(replica), MODEL_PROBE)
    assert replica.connections == 3  # type: ignore[attr-defined]
