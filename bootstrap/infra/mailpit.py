"""Mailpit: an SMTP server on 127.0.0.1:1025 with its web API on 127.0.0.1:8025, built with Go.

`canopy infra up mailpit` builds `mailpit` v1.33.1 once from the Go module (`go install` from the
module proxy, with the machine's Go) and runs it with its message database in the infra cache. Mail it
receives is never relayed anywhere: it is the inbox tests and developers read through the API. The
module carries no build of the web inbox's JavaScript (an npm build whose pinned packages this
machine's registry lacks), so the page at / stays blank; /api/v1/messages and the rest of the API work.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.request
from pathlib import Path

from bootstrap.infra.base import HOST, Component, Ownership, save_ownership, say
from bootstrap.infra.golang import Progress, find_go, go_env, version_line
from bootstrap.infra.process import port_open, run_logged, spawn_detached

MAILPIT_MODULE = "github.com/axllent/mailpit"
MAILPIT_VERSION = "v1.33.1"
SMTP_PORT = 1025
HTTP_PORT = 8025
WEB_URL = f"http://{HOST}:{HTTP_PORT}"
SMTP_URL = f"smtp://{HOST}:{SMTP_PORT}"


def mailpit_args(database: Path) -> list[str]:
    """Flags of the server: loopback only, data in the cache, no network look-ups, any SMTP login accepted."""
    return [
        "--smtp",
        f"{HOST}:{SMTP_PORT}",
        "--listen",
        f"{HOST}:{HTTP_PORT}",
        "--database",
        str(database),
        "--disable-version-check",
        "--smtp-disable-rdns",
        "--smtp-auth-accept-any",
        "--smtp-auth-allow-insecure",
    ]


def mailpit_version(binary: Path) -> str:
    """The version `mailpit version` reports ('' when it does not run)."""
    words = version_line([str(binary), "version", "--no-release-check"], str(binary)).split()
    return words[0] if words else ""


def web_info(timeout: float) -> dict[str, object] | None:
    """Mailpit's /api/v1/info document, or None when nothing answers it on the web port."""
    try:
        with urllib.request.urlopen(f"{WEB_URL}/api/v1/info", timeout=timeout) as response:
            body = json.loads(response.read())
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


class Mailpit(Component):
    """The Mailpit server under $CANOPY_HOME/infra/mailpit, built from its Go module."""

    name = "mailpit"
    port = SMTP_PORT
    start_timeout = 30.0

    @property
    def binary(self) -> Path:
        """Where the built binary is."""
        return self.cache / "bin" / "mailpit"

    def occupied(self) -> bool:
        """Whether something listens on the SMTP or the web port."""
        return port_open(HOST, SMTP_PORT) or port_open(HOST, HTTP_PORT)

    def answers(self, timeout: float = 3.0) -> bool:
        """The web API describes a Mailpit and the SMTP port accepts connections."""
        info = web_info(timeout)
        return info is not None and "Version" in info and port_open(HOST, SMTP_PORT, timeout)

    def prepare(self) -> None:
        """Build the binary with `go install` unless the wanted version is already there."""
        (self.cache / "data").mkdir(parents=True, exist_ok=True)
        if mailpit_version(self.binary) == MAILPIT_VERSION:
            return
        go = find_go()
        if go is None:
            raise self.failure(
                f"Go is needed to build Mailpit {MAILPIT_VERSION} and `go` is not on PATH: install Go "
                "1.24 or newer (the go.dev tarball in /usr/local/go), then run `canopy infra up mailpit`"
            )
        say(f"mailpit: building {MAILPIT_MODULE} {MAILPIT_VERSION} with {go} (first run only; minutes)...")
        staging = self.cache / "bin.partial"
        shutil.rmtree(staging, ignore_errors=True)
        env = go_env(self.cache, flags="-buildvcs=false") | {"GOBIN": str(staging)}
        version_flag = f"-X {MAILPIT_MODULE}/config.Version={MAILPIT_VERSION}"
        build = [
            go,
            "install",
            "-v",
            "-trimpath",
            "-ldflags",
            version_flag,
            f"{MAILPIT_MODULE}@{MAILPIT_VERSION}",
        ]
        with Progress(self.name) as progress:
            code = run_logged(build, self.log_file, cwd=self.cache, env=env, on_line=progress)
        built = staging / "mailpit"
        if code != 0 or not built.exists():
            raise self.failure(f"`{' '.join(build)}` failed (exit {code})")
        self.binary.parent.mkdir(parents=True, exist_ok=True)
        os.replace(built, self.binary)
        shutil.rmtree(staging, ignore_errors=True)
        if mailpit_version(self.binary) != MAILPIT_VERSION:
            raise self.failure(f"{self.binary} was built but does not report version {MAILPIT_VERSION}")
        say(f"mailpit: built in {time.monotonic() - progress.started:.0f} s")

    def start(self) -> Ownership:
        """Start the server detached, its messages kept in the cache's database."""
        argv = [str(self.binary), *mailpit_args(self.cache / "data" / "mailpit.db")]
        pid = spawn_detached(argv, self.log_file, cwd=self.cache)
        return save_ownership(self.paths, self.name, pid)

    def usage(self) -> str:
        """How to point the platform at it and where to read the mail."""
        return f"mailpit: CANOPY_MAIL_URL={SMTP_URL}; mail received: {WEB_URL}/api/v1/messages"
