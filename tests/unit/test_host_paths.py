"""Bind sources mapped to the engine host's paths when the agent runs in a container of that engine."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from canopy.contracts.deploy import WorkloadSpec
from canopy.workloads.docker_hardening import read_only_binds
from canopy.workloads.host_paths import HostPaths, host_path, own_container_id

CONTAINER = "4f" * 32
MOUNTINFO = (
    "812 790 8:1 / / rw,relatime - overlay overlay rw\n"
    f"820 812 8:1 /var/lib/docker/containers/{CONTAINER}/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n"
    "821 812 8:1 /var/lib/docker/volumes/p_canopy-home/_data /var/lib/canopy ro - ext4 /dev/sda1 rw\n"
)
MOUNTS = [
    {"Destination": "/var/lib/canopy", "Source": "/var/lib/docker/volumes/p_canopy-home/_data"},
    {"Destination": "/var/lib/canopy/sdk", "Source": "/srv/sdk"},
    {"Destination": "/var/lib/canopy-agent", "Source": "/var/lib/docker/volumes/p_agent-home/_data"},
]


def test_the_container_id_comes_from_the_engine_mounted_hostname_file() -> None:
    assert own_container_id(MOUNTINFO) == CONTAINER
    assert own_container_id("812 790 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n") == ""


def test_a_path_under_a_mount_is_rewritten_to_the_deepest_mount_source() -> None:
    package = "/var/lib/canopy/packages/m1/2"
    assert host_path(package, MOUNTS) == "/var/lib/docker/volumes/p_canopy-home/_data/packages/m1/2"
    assert host_path("/var/lib/canopy/sdk/abc", MOUNTS) == "/srv/sdk/abc"
    assert host_path("/var/lib/canopy", MOUNTS) == "/var/lib/docker/volumes/p_canopy-home/_data"


def test_a_sibling_with_a_common_prefix_or_a_path_outside_every_mount_is_kept() -> None:
    assert host_path("/var/lib/canopy-agent/x", MOUNTS[:2]) == "/var/lib/canopy-agent/x"
    assert host_path("/tmp/package", MOUNTS) == "/tmp/package"


class _Engine:
    """A stand-in for DockerClient: containers.get(id) answers this container's mounts."""

    def __init__(self, mounts: list[dict[str, str]]) -> None:
        self.containers = self
        self.mounts = mounts
        self.asked: list[str] = []

    def get(self, container_id: str) -> SimpleNamespace:
        self.asked.append(container_id)
        return SimpleNamespace(attrs={"Mounts": self.mounts})


def test_a_workload_in_a_container_binds_the_host_folders_of_the_agent_mounts(tmp_path: Path) -> None:
    (tmp_path / "mountinfo").write_text(MOUNTINFO)
    engine = _Engine(MOUNTS)
    to_host = HostPaths(engine, tmp_path / "mountinfo")  # type: ignore[arg-type]
    spec = WorkloadSpec(
        model_id="m", runtime="docker", image="i", package_dir="/var/lib/canopy/p", sdk_dir="/opt/sdk"
    )
    binds = read_only_binds(spec, "", to_host)
    assert engine.asked == [CONTAINER]
    assert binds["/var/lib/docker/volumes/p_canopy-home/_data/p"] == {"bind": "/opt/model", "mode": "ro"}
    assert binds["/opt/sdk"] == {"bind": "/opt/sdk", "mode": "ro"}


def test_on_a_host_the_paths_are_kept(tmp_path: Path) -> None:
    (tmp_path / "mountinfo").write_text("812 790 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n")
    engine = _Engine(MOUNTS)
    to_host = HostPaths(engine, tmp_path / "mountinfo")  # type: ignore[arg-type]
    assert to_host("/var/lib/canopy/p") == "/var/lib/canopy/p"
    assert engine.asked == []
