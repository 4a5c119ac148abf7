"""Only the workload an instance's database was admitted for reaches its socket: sandbox and container.

pymongo runs inside the project's bubblewrap sandbox (as a workload uid) and inside a hardened
workload container, with the socket directory bound where workloads see it and the environment a
workload gets; a uid or group that was not admitted is refused by the kernel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pymongo
import pytest

from canopy.apps.database import InstanceDatabase
from canopy.apps.database_plan import WORKLOAD_DATABASE_DIR
from canopy.config import load_config
from canopy.workloads.base_images import build_base_image
from canopy.workloads.docker_hardening import WORKLOAD_USER
from canopy.workloads.isolation import Confinement, preexec, stage_dir, staged_paths
from canopy.workloads.process_runtime import bwrap_path
from canopy.workloads.rootfs import ensure_rootfs
from canopy.workloads.sandbox import SDK, Sandbox, bwrap_argv, pick_uid, workload_env
from tests.integration.test_app_database import databases, make, store_url

__all__ = ["databases", "store_url"]


def _needs_root_and_bubblewrap() -> None:
    """A uid of another workload needs root; fail under CI, else skip."""
    problem = "" if os.geteuid() == 0 else "runs as root (a uid per workload)"
    problem = problem or ("" if shutil.which("bwrap") else "bubblewrap is missing (canopy infra up)")
    if problem and os.environ.get("CI") == "true":
        pytest.fail(problem)
    if problem:
        pytest.skip(problem)


WORKLOAD_SCRIPT = """
import os, pymongo
client = pymongo.MongoClient(os.environ["CANOPY_MONGODB_URI"], serverSelectionTimeoutMS=3000)
db = client[os.environ["CANOPY_MONGODB_DATABASE"]]
try:
    db.visits.insert_one({"uid": os.getuid()})
    print("CONNECTED", db.visits.count_documents({}))
except pymongo.errors.PyMongoError as exc:
    print("REFUSED", exc)
"""


def run_as_workload(database: InstanceDatabase, uid: int) -> str:
    """Run pymongo in the bubblewrap sandbox as `uid`, the socket directory bound as for a workload."""
    rootfs_cache = Path(load_config().rootfs_dir)
    stage = stage_dir(rootfs_cache)
    sources = {
        "rootfs": str(ensure_rootfs(rootfs_cache, "3.11")),
        "pylib": str(Path(pymongo.__file__).parents[1]),
        "database": str(database.plan.socket_dir),
    }
    seen = staged_paths(sources, stage)
    sandbox = Sandbox(
        rootfs=seen["rootfs"],
        read_only={SDK: seen["pylib"], WORKLOAD_DATABASE_DIR: seen["database"]},
        env={**workload_env(1), **database.plan.workload_env, "PATH": "/usr/bin:/bin"},
        command=["/usr/bin/python3", "-c", WORKLOAD_SCRIPT],
    )
    confinement = Confinement(uid=uid, stage_dir=stage, sources=sources)
    result = subprocess.run(
        [bwrap_path(), *bwrap_argv(sandbox)[1:]],
        capture_output=True,
        text=True,
        env={},
        preexec_fn=preexec(confinement),
        timeout=120,
        check=False,
    )
    print(result.stdout, result.stderr, file=sys.stderr)
    return result.stdout.strip()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_only_the_admitted_workload_uid_reaches_the_socket(
    store_url: str, databases: list[InstanceDatabase], canopy_home: Path, ferretdb_binary: Path
) -> None:
    _needs_root_and_bubblewrap()
    database = make(databases, canopy_home, store_url, ferretdb_binary)
    owner = pick_uid(database.plan.instance_id, set())
    intruder = pick_uid(f"{database.plan.instance_id}-other", {owner})
    database.admit(owner)  # before start: the socket FerretDB creates takes the directory's group
    database.start()
    assert run_as_workload(database, owner) == "CONNECTED 1"
    refused = run_as_workload(database, intruder)
    assert refused.startswith("REFUSED") and "Permission denied" in refused
    database.admit(intruder)  # while it runs: the socket changes group too, and the old group is out
    assert run_as_workload(database, intruder) == "CONNECTED 2"
    assert run_as_workload(database, owner).startswith("REFUSED")


def run_in_container(database: InstanceDatabase, docker_socket: str) -> str:
    """Run pymongo in a hardened workload container (uid 10001), the socket directory bound read-only."""
    import docker

    image = build_base_image("3.11", Path(load_config().rootfs_dir))
    client = docker.DockerClient(base_url=f"unix://{docker_socket}", timeout=60)
    try:
        output = client.containers.run(
            image,
            command=["python3", "-c", WORKLOAD_SCRIPT],
            user=WORKLOAD_USER,
            environment={**database.plan.workload_env, "PYTHONPATH": SDK},
            volumes={
                str(Path(pymongo.__file__).parents[1]): {"bind": SDK, "mode": "ro"},
                str(database.plan.socket_dir): {"bind": WORKLOAD_DATABASE_DIR, "mode": "ro"},
            },
            network_mode="none",
            read_only=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            remove=True,
        )
    finally:
        client.close()
    return bytes(output).decode().strip()


@pytest.mark.docker
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_container_reaches_the_socket_only_when_its_group_is_admitted(
    store_url: str,
    databases: list[InstanceDatabase],
    canopy_home: Path,
    ferretdb_binary: Path,
    docker_socket: str,
) -> None:
    database = make(databases, canopy_home, store_url, ferretdb_binary)
    database.start()
    database.admit(int(WORKLOAD_USER.split(":")[1]))
    assert run_in_container(database, docker_socket) == "CONNECTED 1"
    database.admit(int(WORKLOAD_USER.split(":")[1]) + 1)
    refused = run_in_container(database, docker_socket)
    assert refused.startswith("REFUSED") and "Permission denied" in refused
