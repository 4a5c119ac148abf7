"""The compose CLI: `docker compose` v2 built from its Go module and installed as a docker CLI plugin.

Why not Debian's docker-compose 1.29: it is the retired Python implementation (end of life since 2023),
it does not read the Compose Specification's newer fields the same way (`depends_on` conditions such as
`service_completed_successfully`, `!reset`), and `docker compose` (v2) is what every current guide uses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from bootstrap.infra.base import InfraPaths, say
from bootstrap.infra.golang import Progress, find_go, go_env, version_line
from bootstrap.infra.process import run_logged
from canopy.config import load_config

COMPOSE_MODULE = "github.com/docker/compose/v2"
COMPOSE_VERSION = "v2.40.3"
PLUGIN_NAME = "docker-compose"


def plugin_dir(home: Path) -> Path:
    """The docker CLI plugin directory of this user (docker finds `docker compose` there)."""
    return home / ".docker" / "cli-plugins"


def compose_version(binary: Path) -> str:
    """The version the binary reports, as v2.x.y ('' when it is missing or does not run)."""
    short = version_line([str(binary), "version", "--short"], "") if binary.exists() else ""
    return f"v{short.removeprefix('v')}" if short else ""


def build_compose(cache: Path, log: Path) -> Path:
    """Build the compose binary from its module into cache/bin (the module's go.mod forbids `go install`)."""
    go = find_go()
    if go is None:
        raise RuntimeError("Go is needed to build docker compose: install Go 1.24+ (the go.dev tarball)")
    env = go_env(cache)
    download = [go, "mod", "download", "-json", f"{COMPOSE_MODULE}@{COMPOSE_VERSION}"]
    found = subprocess.run(download, cwd=cache, env=env, capture_output=True, text=True, check=False)
    try:
        module = Path(json.loads(found.stdout)["Dir"])
    except (ValueError, KeyError, TypeError):
        raise RuntimeError(f"`{' '.join(download)}` failed: {found.stderr.strip()[-300:]}") from None
    source = cache / f"src-{COMPOSE_VERSION}"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(module, source)
    for directory, _, _ in os.walk(source):
        os.chmod(directory, 0o755)  # the module cache is read-only
    binary, partial = cache / "bin" / PLUGIN_NAME, cache / "bin" / f"{PLUGIN_NAME}.partial"
    binary.parent.mkdir(parents=True, exist_ok=True)
    ldflags = f"-s -w -X {COMPOSE_MODULE}/internal.Version={COMPOSE_VERSION}"
    build = [go, "build", "-v", "-trimpath", "-ldflags", ldflags, "-o", str(partial), "./cmd"]
    say(f"compose: building {COMPOSE_MODULE} {COMPOSE_VERSION} with {go} (first run only; minutes)...")
    with Progress("compose") as progress:
        code = run_logged(build, log, cwd=source, env=env, on_line=progress)
    if code != 0:
        raise RuntimeError(f"`{' '.join(build)}` failed (exit {code}); see {log}")
    os.replace(partial, binary)
    shutil.rmtree(source, ignore_errors=True)
    say(f"compose: built in {time.monotonic() - progress.started:.0f} s")
    return binary


def ensure_compose(home: Path | None = None) -> Path:
    """Install `docker compose` as this user's CLI plugin, building it once; the plugin's path."""
    paths = InfraPaths(load_config().home / "infra")
    cache = paths.cache("compose")
    binary = cache / "bin" / PLUGIN_NAME
    if compose_version(binary) != COMPOSE_VERSION:
        binary = build_compose(cache, paths.log("compose"))
    plugin = plugin_dir(home or Path.home()) / PLUGIN_NAME
    if not plugin.exists() or plugin.resolve() != binary.resolve():
        plugin.parent.mkdir(parents=True, exist_ok=True)
        plugin.unlink(missing_ok=True)
        plugin.symlink_to(binary)
    return plugin


def main() -> None:
    """Python -m bootstrap.images.compose_cli: make sure `docker compose` works."""
    say(f"compose: {ensure_compose()} ({COMPOSE_VERSION})")


if __name__ == "__main__":
    main()
