"""A sandbox dies with the agent that started it, whatever uid it runs as."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
AGENT = """
import os, subprocess, sys
from canopy.workloads.isolation import Confinement, preexec
sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
sandbox = subprocess.Popen(sleep, **quiet, preexec_fn=preexec(Confinement()))
print(sandbox.pid, flush=True)
os._exit(0)
"""


def test_a_sandbox_is_killed_when_its_agent_dies() -> None:
    agent = subprocess.run(
        [sys.executable, "-c", AGENT], cwd=REPO, capture_output=True, text=True, check=True
    )
    sandbox = int(agent.stdout)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if psutil.Process(sandbox).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    else:
        psutil.Process(sandbox).kill()
        raise AssertionError("the sandbox outlived its agent")
