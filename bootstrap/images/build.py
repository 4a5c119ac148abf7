"""`docker build` of each image with the legacy builder (no buildx here), tagged with the commit."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from bootstrap.images.catalog import ImageSpec, select
from bootstrap.images.contexts import REPO
from bootstrap.infra.base import InfraPaths, say
from canopy.config import load_config
from canopy.workloads.base_images import build_base_image

CONTEXTS = REPO / "build" / "images"


def commit_tag() -> str:
    """The short hash of the checked-out commit (the version every image is tagged with)."""
    result = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or "dev"


def build_command(spec: ImageSpec, context: Path, version: str) -> list[str]:
    """The docker build command line of one image, tagged :<version> and :latest."""
    return [
        "docker",
        "build",
        "-t",
        spec.tag(version),
        "-t",
        spec.tag("latest"),
        "-f",
        str(spec.dockerfile),
        str(context),
    ]


def run_build(spec: ImageSpec, command: list[str]) -> None:
    """Run docker build, printing its steps as progress; raise with its last lines when it fails."""
    env = os.environ | {"DOCKER_BUILDKIT": "0"}
    last: deque[str] = deque(maxlen=15)
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            last.append(line.rstrip())
            if line.startswith("Step "):
                say(f"  {spec.name}: {line.strip()[:100]}")
    if proc.returncode != 0:
        raise RuntimeError(f"building canopy/{spec.name} failed:\n" + "\n".join(last))


def build_image(spec: ImageSpec, paths: InfraPaths, version: str) -> float:
    """Fill the image's context and build it; the seconds it took."""
    started = time.monotonic()
    context = REPO if spec.repo_context else CONTEXTS / spec.name
    context.mkdir(parents=True, exist_ok=True)
    if spec.prepare is not None:
        spec.prepare(paths, context)
    run_build(spec, build_command(spec, context, version))
    return time.monotonic() - started


def build_images(names: list[str]) -> dict[str, float]:
    """Build the named images (all when none) in order; the seconds each took."""
    config = load_config()
    build_base_image("3.11", Path(config.rootfs_dir))
    paths, version, took = InfraPaths(config.home / "infra"), commit_tag(), {}
    for spec in select(names):
        say(f"images: building {spec.tag(version)}")
        took[spec.name] = build_image(spec, paths, version)
        say(f"images: {spec.tag(version)} ready in {took[spec.name]:.1f} s")
    return took


def main() -> None:
    """Build every image, or those named: python -m bootstrap.images [name ...]."""
    try:
        took = build_images(sys.argv[1:])
    except (RuntimeError, ValueError) as exc:
        sys.exit(f"images: {exc}")
    say(f"images: {len(took)} built in {sum(took.values()):.0f} s")
