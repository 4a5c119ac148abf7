"""The docker runtime's base images hold the very root filesystems that process workloads run in."""

from __future__ import annotations

import hashlib
from pathlib import Path

import docker
import pytest

from canopy.config import load_config
from canopy.workloads.base_images import build_base_image
from canopy.workloads.rootfs import rootfs_dir


@pytest.mark.parametrize("python", ["3.11", "3.9"])
def test_a_base_image_holds_the_sandbox_root_filesystem_of_its_python(
    docker_socket: str, python: str
) -> None:
    cache = Path(load_config().rootfs_dir)
    tag = build_base_image(python, cache)  # a no-op when the image is up to date
    rootfs = rootfs_dir(cache, python)
    files = [f"usr/bin/python{python}", "etc/debian_version", "etc/os-release"]
    on_disk = {f"/{name}": hashlib.sha256((rootfs / name).read_bytes()).hexdigest() for name in files}
    client = docker.DockerClient(base_url=f"unix://{docker_socket}")
    try:
        output = client.containers.run(
            tag, ["sha256sum", *on_disk], network_mode="none", remove=True, stdout=True, stderr=True
        )
    finally:
        client.close()
    in_image = {path: digest for digest, path in (line.split() for line in output.decode().splitlines())}
    assert in_image == on_disk
