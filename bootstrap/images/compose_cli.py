"""The compose CLI: Debian's `docker-compose` 1.29, installed with apt-get when it is missing.

Why not `docker compose` v2: no binary may be downloaded here, so v2 would be built from its Go module
(github.com/docker/compose/v2), about 30 minutes on a 2-core machine, longer than CI can afford on a
fresh machine. Debian's package installs in seconds and runs docker-compose.yml as it is (healthchecks,
`depends_on` conditions service_healthy and service_completed_successfully, named volumes, host
networking, the .env) on Debian's docker.io engine; a v2 plugin, where one is installed, reads the
same file.
"""

from __future__ import annotations

from pathlib import Path

from bootstrap.infra.base import InfraPaths, say
from bootstrap.infra.packages import ensure_binaries, find_binary
from canopy.config import load_config

COMPOSE_BINARIES = {"docker-compose": "docker-compose"}


def ensure_compose() -> Path:
    """The path of `docker-compose`, installing Debian's package first when it is missing (root only)."""
    ensure_binaries(COMPOSE_BINARIES, InfraPaths(load_config().home / "infra").log("compose"))
    found = find_binary("docker-compose")
    assert found is not None  # ensure_binaries raised otherwise
    return Path(found)


def main() -> None:
    """Python -m bootstrap.images.compose_cli: make sure `docker-compose` works."""
    say(f"compose: {ensure_compose()}")


if __name__ == "__main__":
    main()
