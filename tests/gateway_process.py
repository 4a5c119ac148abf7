"""The gateway alone under gunicorn (`python -m services.gateway`) in a subprocess, for tests and benches."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_gateway(
    home: Path, port: int, output: int | IO[str] = subprocess.PIPE, **settings: str
) -> subprocess.Popen[str]:
    """Start the gateway on the embedded backends in `home`, on 127.0.0.1:`port`, with CANOPY_* `settings`."""
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("CANOPY_")},
        "CANOPY_HOME": str(home),
        "CANOPY_API_PORT": str(port),
        **settings,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "services.gateway"],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_healthy(url: str, process: subprocess.Popen[str], seconds: float = 60) -> None:
    """Wait until /api/v1/health answers 200; RuntimeError with the output if the process exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"the gateway exited early:\n{output}")
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the gateway did not answer /api/v1/health within {seconds} s")
