"""Bind sources as the Docker Engine sees them, when the agent itself runs in a container of that engine.

The engine resolves a bind's source on its host, so a folder under one of the agent container's mounts
(a named volume it shares with the deployer) is translated through that container's mount table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from docker import DockerClient
from docker.errors import NotFound

MOUNTINFO = Path("/proc/self/mountinfo")
# The engine bind-mounts /etc/hostname (and hosts, resolv.conf) from its folder for the container.
CONTAINER_ID = re.compile(r"/containers/([0-9a-f]{64})/(?:hostname|hosts|resolv\.conf)\s")


def own_container_id(mountinfo: str) -> str:
    """The id of the container this process runs in, from its mount table; '' on a host."""
    found = CONTAINER_ID.search(mountinfo)
    return found.group(1) if found else ""


def host_path(path: str, mounts: Iterable[Mapping[str, str]]) -> str:
    """`path` under the deepest mount whose destination holds it, rewritten to that mount's host source."""
    target = PurePosixPath(path)
    best: tuple[int, str] = (-1, path)
    for mount in mounts:
        destination = PurePosixPath(mount["Destination"])
        if target.is_relative_to(destination) and len(destination.parts) > best[0]:
            source = PurePosixPath(mount["Source"]) / target.relative_to(destination)
            best = (len(destination.parts), str(source))
    return best[1]


class HostPaths:
    """Maps this process's paths to the engine host's: the identity outside a container."""

    def __init__(self, client: DockerClient, mountinfo: Path = MOUNTINFO) -> None:
        container_id = own_container_id(mountinfo.read_text()) if mountinfo.exists() else ""
        self.mounts: list[dict[str, str]] = []
        if container_id:
            try:
                self.mounts = list(client.containers.get(container_id).attrs.get("Mounts") or [])
            except NotFound:
                self.mounts = []  # a container of another engine: paths are the host's own

    def __call__(self, path: str) -> str:
        """The engine host's path of `path`."""
        return host_path(path, self.mounts) if self.mounts else path
