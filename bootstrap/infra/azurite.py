"""Azurite: the Azure Blob emulator from npm on 127.0.0.1:10000."""

from __future__ import annotations

from pathlib import Path

from bootstrap.infra.base import HOST, Component, Ownership, save_ownership, say
from bootstrap.infra.packages import find_binary
from bootstrap.infra.process import port_open, run_logged, spawn_detached

PORT = 10000
PACKAGE = "azurite@3"
CONNECTION_STRING = "UseDevelopmentStorage=true"


def azurite_args(data_dir: Path, port: int = PORT) -> list[str]:
    """Command-line flags of azurite-blob: loopback only, data in the cache, lenient, no telemetry."""
    return [
        "--blobHost",
        HOST,
        "--blobPort",
        str(port),
        "--location",
        str(data_dir),
        "--skipApiVersionCheck",
        "--loose",
        "--disableTelemetry",
        "--silent",
    ]


class Azurite(Component):
    """The azurite-blob server, installed once with npm into the cache."""

    name = "azurite"
    port = PORT
    start_timeout = 60.0

    @property
    def executable(self) -> Path:
        """The azurite-blob launcher npm installed."""
        return self.cache / "node_modules" / ".bin" / "azurite-blob"

    def binaries(self) -> dict[str, str]:
        """Node runs Azurite; npm installs it."""
        return {"node": "nodejs", "npm": "npm"}

    def answers(self, timeout: float = 3.0) -> bool:
        """Listing containers with the development-storage connection string succeeds."""
        if not port_open(HOST, self.port):
            return False
        from azure.core.exceptions import AzureError
        from azure.storage.blob import BlobServiceClient

        client = BlobServiceClient.from_connection_string(
            CONNECTION_STRING, retry_total=0, connection_timeout=timeout, read_timeout=timeout
        )
        try:
            with client:
                next(iter(client.list_containers(results_per_page=1).by_page()), None)
            return True
        except (AzureError, OSError):
            return False

    def prepare(self) -> None:
        """Install Azurite with npm unless it is already in the cache."""
        (self.cache / "data").mkdir(parents=True, exist_ok=True)
        if self.executable.exists():
            return
        say(f"azurite: installing {PACKAGE} with npm (first run only)...")
        npm = find_binary("npm") or "npm"
        code = run_logged(
            [
                npm,
                "install",
                "--prefix",
                str(self.cache),
                PACKAGE,
                "--no-audit",
                "--no-fund",
                "--loglevel",
                "warn",
            ],
            self.log_file,
            cwd=self.cache,
        )
        if code != 0 or not self.executable.exists():
            raise self.failure(f"npm install {PACKAGE} failed (exit {code})")

    def start(self) -> Ownership:
        """Start azurite-blob detached."""
        node = find_binary("node") or "node"
        target = self.executable.resolve()
        pid = spawn_detached(
            [node, str(target), *azurite_args(self.cache / "data", self.port)], self.log_file, cwd=self.cache
        )
        return save_ownership(self.paths, self.name, pid)
