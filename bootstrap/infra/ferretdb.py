"""FerretDB: the binary the node agents run per app instance that asks for a database, built with Go.

Not a server of its own: `canopy infra up ferretdb` builds `ferretdb` v1.24.2 once from the Go module
(the module proxy's copy lacks the version file its build needs, so the source is copied and that
file written), checks that it runs, and lets the platform's PostgreSQL role create the per-instance
databases (CREATEDB) when PostgreSQL is up.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from bootstrap.infra.base import Component, InfraPaths, Ownership, say
from bootstrap.infra.golang import Progress, find_go, go_env, version_line
from bootstrap.infra.postgres import Postgres
from bootstrap.infra.process import run_logged
from canopy.apps.database_plan import FERRETDB_MODULE, FERRETDB_VERSION, ferretdb_binary


def version_of(binary: Path) -> str:
    """The version `binary --version` reports ('' when it does not run)."""
    return version_line([str(binary), "--version"], "version:")


class FerretDB(Component):
    """The FerretDB binary under $CANOPY_HOME/infra/ferretdb/bin, built from source with Go."""

    name = "ferretdb"
    serves = False

    def __init__(self, paths: InfraPaths) -> None:
        """The binary of this install (CANOPY_HOME/infra)."""
        super().__init__(paths)
        self.binary = ferretdb_binary(paths.root.parent)

    @property
    def address(self) -> str:
        """Where the binary is."""
        return str(self.binary)

    def occupied(self) -> bool:
        """A binary occupies no port."""
        return False

    def answers(self, timeout: float = 3.0) -> bool:
        """The binary is there and reports the wanted version."""
        return version_of(self.binary) == FERRETDB_VERSION

    def prepare(self) -> None:
        """Build the binary: fetch the module, copy its source, write its version file, `go build`."""
        go = find_go()
        if go is None:
            raise self.failure(
                f"Go is needed to build FerretDB {FERRETDB_VERSION} and `go` is not on PATH: install Go "
                "1.24 or newer (the go.dev tarball in /usr/local/go), then run `canopy infra up ferretdb`"
            )
        say(f"ferretdb: building {FERRETDB_MODULE} {FERRETDB_VERSION} with {go} (first run only; minutes)...")
        env, progress = go_env(self.cache), Progress(self.name)
        download = [go, "mod", "download", "-json", f"{FERRETDB_MODULE}@{FERRETDB_VERSION}"]
        found = subprocess.run(download, cwd=self.cache, env=env, capture_output=True, text=True, check=False)
        self._log(f"{' '.join(download)}\n{found.stdout}{found.stderr}")
        try:
            module = Path(json.loads(found.stdout)["Dir"])
        except (ValueError, KeyError, TypeError):
            raise self.failure(f"`{' '.join(download)}` failed (exit {found.returncode})") from None
        source = self.cache / f"src-{FERRETDB_VERSION}"
        shutil.rmtree(source, ignore_errors=True)
        shutil.copytree(module, source)
        for directory, _, _ in os.walk(source):
            os.chmod(directory, 0o755)  # the module cache is read-only
        (source / "build" / "version" / "version.txt").write_text(f"{FERRETDB_VERSION}\n")
        self.binary.parent.mkdir(parents=True, exist_ok=True)
        partial = self.binary.with_name("ferretdb.partial")
        build = [go, "build", "-v", "-trimpath", "-o", str(partial), "./cmd/ferretdb"]
        with progress:
            code = run_logged(build, self.log_file, cwd=source, env=env, on_line=progress)
        if code != 0:
            raise self.failure(f"`{' '.join(build)}` in {source} failed (exit {code})")
        os.replace(partial, self.binary)
        shutil.rmtree(source, ignore_errors=True)
        say(f"ferretdb: built in {time.monotonic() - progress.started:.0f} s")

    def start(self) -> Ownership:
        """Nothing to start: each node agent runs FerretDB per app instance."""
        raise self.failure("is a binary the node agents run per app instance, not a server")

    def ensure(self) -> None:
        """Let the platform's PostgreSQL role create per-instance databases when PostgreSQL is up."""
        postgres = Postgres(self.paths)
        if not postgres.answers(1.0) or postgres.saved_password() is None:
            say(
                "ferretdb: PostgreSQL is not up (or not set up here); to keep app databases there, run "
                "`canopy infra up postgres ferretdb` (the canopy role needs CREATEDB)"
            )
            return
        if postgres.allow_database_creation():
            say("ferretdb: the canopy PostgreSQL role may now create the app instances' databases (CREATEDB)")

    def _log(self, text: str) -> None:
        with self.log_file.open("a") as log:
            log.write(text)
