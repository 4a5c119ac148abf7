"""Local Python base images imported from the root filesystems the process sandbox runs in; no registry."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import docker
from docker.errors import ImageNotFound

from canopy.workloads.rootfs import SUITES, ensure_rootfs, rootfs_dir, rootfs_id

log = logging.getLogger(__name__)

LABEL = "canopy.rootfs"  # the build id of the root filesystem an image was imported from


def base_tag(python: str) -> str:
    """The local image tag of a Python version, e.g. canopy/python:3.11."""
    return f"canopy/python:{python}"


def image_labels(tag: str) -> dict[str, str] | None:
    """The labels of a local image (through the engine API, no docker CLI), None when it is absent."""
    client = docker.from_env()
    try:
        return dict(client.images.get(tag).labels or {})
    except ImageNotFound:
        return None
    finally:
        client.close()


def image_exists(tag: str) -> bool:
    """Whether the local Docker engine holds an image with this tag."""
    return image_labels(tag) is not None


def image_label(tag: str, label: str) -> str:
    """A label of a local image, or '' when the image or the label is missing."""
    return (image_labels(tag) or {}).get(label, "")


def build_base_image(python: str, rootfs_cache: Path) -> str:
    """canopy/python:<python>, `docker import`ed from the very root filesystem process workloads use.

    Re-imported whenever that root filesystem was rebuilt (the image's label names the build).
    """
    if python not in SUITES:
        raise ValueError(f"no base image for Python {python}; available: {', '.join(sorted(SUITES))}")
    tag = base_tag(python)
    if not rootfs_id(rootfs_dir(rootfs_cache, python)) and image_label(tag, LABEL):
        return tag  # no root filesystem here (a deployer in a container): the engine's import is the one
    rootfs = ensure_rootfs(rootfs_cache, python)
    build = rootfs_id(rootfs)
    if image_label(tag, LABEL) == build:
        return tag
    log.info("importing %s from %s", tag, rootfs)
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    changes = ["--change", 'CMD ["python3"]', "--change", f"LABEL {LABEL}={build}"]
    result = subprocess.run(
        ["docker", "import", *changes, "-", tag],
        stdin=tar.stdout,
        capture_output=True,
        text=True,
        check=False,
    )
    if tar.wait() != 0 or result.returncode != 0:
        raise RuntimeError(f"importing {rootfs} as {tag} failed: {result.stderr.strip()[-300:]}")
    return tag


def main() -> None:
    """Import each missing or stale base image (python -m canopy.workloads.base_images [3.11 3.9])."""
    import sys

    from canopy.config import load_config

    logging.basicConfig(level=logging.INFO)
    cache = Path(load_config().rootfs_dir)
    for python in sys.argv[1:] or sorted(SUITES):
        print(build_base_image(python, cache), flush=True)


if __name__ == "__main__":
    main()
