"""The files of each image's build context: binaries and jars from the infra caches, host-resolved wheels."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

from bootstrap.infra.azurite import Azurite
from bootstrap.infra.base import InfraPaths, say
from bootstrap.infra.ferretdb import FerretDB
from bootstrap.infra.kafka import Kafka
from bootstrap.infra.mailpit import Mailpit
from canopy.workloads.wheels import HOST_PYTHON, download_command

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = REPO / "deploy" / "images"
WHEELS = REPO / "build" / "images" / "wheels"
PORTAL_MODULES = REPO / "services" / "gateway" / "portal" / "node_modules"


def link_tree(source: Path, target: Path) -> None:
    """Make `target` a copy of `source` (a file or a tree) by hard links, falling back to copies."""
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    if source.is_dir():
        shutil.copytree(source, target, copy_function=link, symlinks=True)
    else:
        link(str(source), str(target))


def project_requirements() -> list[str]:
    """The runtime requirements of the Canopy package (pyproject.toml's dependencies)."""
    with (REPO / "pyproject.toml").open("rb") as handle:
        return list(tomllib.load(handle)["project"]["dependencies"])


def resolve_wheels(target: Path = WHEELS) -> Path:
    """Download binary wheels of Canopy's requirements for the image's Python; kept while they are current."""
    wanted = "\n".join(project_requirements()) + "\n"
    listing, done = target / "requirements.txt", target / ".complete"
    if done.exists() and listing.read_text() == wanted:
        return target
    say("images: resolving Canopy's wheels on the host (pip cannot reach PyPI inside a build)...")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    listing.write_text(wanted)
    command = download_command(listing, target, HOST_PYTHON)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"pip download failed: {result.stderr.strip()[-400:]}")
    done.touch()
    return target


def kafka_context(paths: InfraPaths, context: Path) -> None:
    """The Kafka jars (fetched with Maven once) and the start script."""
    kafka = Kafka(paths)
    kafka.fetch_jars()
    link_tree(kafka.libs, context / "libs")
    link_tree(DOCKERFILES / "kafka-start.sh", context / "kafka-start.sh")


def postgres_context(_paths: InfraPaths, context: Path) -> None:
    """The start script that makes the cluster on first start."""
    link_tree(DOCKERFILES / "postgres-start.sh", context / "postgres-start.sh")


def azurite_context(paths: InfraPaths, context: Path) -> None:
    """Azurite's node_modules (installed with npm once)."""
    azurite = Azurite(paths)
    azurite.prepare()
    link_tree(azurite.cache / "node_modules", context / "node_modules")


def mailpit_context(paths: InfraPaths, context: Path) -> None:
    """The mailpit binary (built from its Go module once)."""
    mailpit = Mailpit(paths)
    mailpit.prepare()
    link_tree(mailpit.binary, context / "mailpit")


def ferretdb_context(paths: InfraPaths, context: Path) -> None:
    """The ferretdb binary (built from its Go module once)."""
    ferretdb = FerretDB(paths)
    if not ferretdb.answers():
        ferretdb.prepare()
    link_tree(ferretdb.binary, context / "ferretdb")


def prometheus_context(_paths: InfraPaths, context: Path) -> None:
    """Prometheus's config and rules (deploy/prometheus/)."""
    link_tree(REPO / "deploy" / "prometheus", context / "prometheus")


def canopy_context(_paths: InfraPaths, context: Path) -> None:
    """The repository is the context (see .dockerignore); wheels and the portal's npm go to build/."""
    resolve_wheels()
    if not (PORTAL_MODULES / ".package-lock.json").exists():
        raise RuntimeError(f"{PORTAL_MODULES} is missing: run `make install` (npm ci) first")
    link_tree(PORTAL_MODULES.resolve(), context / "build" / "images" / "portal" / "node_modules")
