"""Docker Engine: `dockerd` on the default socket, started detached with its own log file."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from bootstrap.infra.base import Component, Ownership, save_ownership
from bootstrap.infra.packages import find_binary
from bootstrap.infra.process import spawn_detached, wait_until

SOCKET = Path("/var/run/docker.sock")
DOCKERD_ARGS = ("--storage-driver", "overlay2")


def ping(path: Path, timeout: float) -> bool:
    """Whether the Engine API on a unix socket answers GET /_ping with 200 OK."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(str(path))
            conn.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = b""
            while chunk := conn.recv(4096):
                reply += chunk
            status = reply.split(b"\r\n", 1)[0].split()
            return status[1:2] == [b"200"] and reply.rstrip().endswith(b"OK")
    except OSError:
        return False


class Docker(Component):
    """The Docker Engine daemon."""

    name = "docker"
    start_timeout = 90.0
    stop_timeout = 45.0

    @property
    def address(self) -> str:
        """The Engine's unix socket URL."""
        return f"unix://{SOCKET}"

    def binaries(self) -> dict[str, str]:
        """The daemon, the CLI and iptables for its bridge network."""
        return {"dockerd": "docker.io", "docker": "docker.io", "iptables": "iptables"}

    def occupied(self) -> bool:
        """Whether a socket file is already in place."""
        return SOCKET.is_socket() and ping(SOCKET, 2.0)

    def answers(self, timeout: float = 3.0) -> bool:
        """The Engine API answers /_ping."""
        return ping(SOCKET, timeout)

    def start(self) -> Ownership:
        """Start dockerd detached."""
        binary = find_binary("dockerd") or "dockerd"
        pid = spawn_detached([binary, *DOCKERD_ARGS], self.log_file, cwd=Path("/"))
        return save_ownership(self.paths, self.name, pid)

    def ensure(self) -> None:
        """Wait until `docker info` succeeds against the default socket."""
        docker = find_binary("docker")
        if docker is None:
            return  # an Engine canopy did not start, on a machine without the CLI: /_ping sufficed

        def info() -> bool:
            try:
                result = subprocess.run(
                    [docker, "-H", self.address, "info"], capture_output=True, check=False, timeout=30
                )
            except subprocess.TimeoutExpired:
                return False
            return result.returncode == 0

        if wait_until(info, 30, interval=1.0) != "ok":
            raise self.failure("dockerd answers /_ping but `docker info` keeps failing")
