"""The sandbox decisions: bubblewrap command line, limits, uid choice, cgroup files and the capped log."""

from __future__ import annotations

import io
import resource
from pathlib import Path

import pytest

from canopy.contracts.deploy import WorkloadSpec
from canopy.errors import ValidationFailed
from canopy.workloads import cgroups
from canopy.workloads.cgroups import Cgroup, limit_files
from canopy.workloads.docker_hardening import hardening, read_only_binds
from canopy.workloads.docker_network import NETWORK, OPTIONS, firewall_rules, jump_rule
from canopy.workloads.isolation import staged_paths
from canopy.workloads.logpump import LogPump, read_log
from canopy.workloads.rootfs import suite_for
from canopy.workloads.sandbox import (
    MODEL,
    UID_BASE,
    UID_COUNT,
    VENV,
    Sandbox,
    bwrap_argv,
    pick_uid,
    rlimits,
    workload_env,
)

WORKLOAD = Sandbox(
    rootfs="/stage/rootfs",
    read_only={VENV: "/stage/venv", MODEL: "/stage/model"},
    env=workload_env(1),
    command=["/opt/venv/bin/python", "-m", "platform_sdk.serving"],
    cwd=MODEL,
)


def _pairs(argv: list[str], flag: str) -> list[tuple[str, str]]:
    """The (source, destination) operands of every occurrence of a two-argument flag."""
    return [(argv[i + 1], argv[i + 2]) for i, arg in enumerate(argv) if arg == flag]


def test_the_rootfs_and_trees_are_read_only_and_nothing_else_of_the_host_is_bound() -> None:
    argv = bwrap_argv(WORKLOAD)
    assert _pairs(argv, "--ro-bind") == [
        ("/stage/rootfs", "/"),
        ("/stage/model", MODEL),
        ("/stage/venv", VENV),
    ]
    assert _pairs(argv, "--bind") == [] and "--dev-bind" not in argv
    assert argv[argv.index("--remount-ro") + 1] == "/opt"
    assert argv[argv.index("--tmpfs", argv.index("--size")) + 1] == "/tmp"


def test_namespaces_session_and_parent_death_but_the_host_network_is_kept() -> None:
    argv = bwrap_argv(WORKLOAD)
    for flag in ("--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-user", "--disable-userns"):
        assert flag in argv
    assert {"--die-with-parent", "--new-session", "--clearenv"} <= set(argv)
    assert "--unshare-net" not in argv and "--share-net" not in argv
    assert argv[argv.index("--proc") + 1] == "/proc"
    assert argv[argv.index("--") + 1 :] == list(WORKLOAD.command)


def test_the_environment_is_exactly_the_small_one_given() -> None:
    argv = bwrap_argv(WORKLOAD)
    given = {argv[i + 1]: argv[i + 2] for i, arg in enumerate(argv) if arg == "--setenv"}
    assert given == workload_env(1)
    assert not [name for name in given if name.startswith("CANOPY_")]
    assert given["PYTHONPATH"] == "/opt/sdk" and given["HOME"] == "/tmp"


def test_a_build_sandbox_has_no_network_and_a_writable_virtualenv() -> None:
    build = Sandbox(rootfs="/r", read_only={"/opt/wheels": "/w"}, writable={VENV: "/e"}, network=False)
    argv = bwrap_argv(build)
    assert "--unshare-net" in argv and ("/e", VENV) in _pairs(argv, "--bind")
    assert "--remount-ro" not in argv


def test_rlimits_cap_file_size_and_address_space_and_processes_only_for_a_uid_of_its_own() -> None:
    own = rlimits(256, dedicated_uid=True)
    assert own[resource.RLIMIT_FSIZE] == 32 * 1024 * 1024
    assert own[resource.RLIMIT_AS] == (256 + 2048) * 1024 * 1024
    assert own[resource.RLIMIT_NPROC] == 256
    assert resource.RLIMIT_NPROC not in rlimits(256, dedicated_uid=False)


def test_uids_are_high_stable_and_skip_those_in_use() -> None:
    uid = pick_uid("w1", set())
    assert UID_BASE <= uid < UID_BASE + UID_COUNT and uid == pick_uid("w1", {0, 1000})
    assert pick_uid("w1", {uid}) == uid + 1 or pick_uid("w1", {uid}) == UID_BASE


def test_cgroup_files_for_v1_and_v2() -> None:
    v1 = limit_files("v1", memory_mb=256, cpu=0.5, pids=256)
    assert v1["memory/memory.limit_in_bytes"] == str(256 * 1024 * 1024)
    assert (v1["cpu/cpu.cfs_quota_us"], v1["cpu/cpu.cfs_period_us"]) == ("50000", "100000")
    assert v1["pids/pids.max"] == "256"
    v2 = limit_files("v2", memory_mb=256, cpu=2, pids=256)
    assert v2["memory.max"] == str(256 * 1024 * 1024) and v2["cpu.max"] == "200000 100000"


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_cgroup_cpu_limit_is_lowered_in_place(
    version: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cgroups, "ROOT", tmp_path)
    group = Cgroup(version, (), "w1-1")  # what create() made: the starting workload may use its 2 cores

    def path(key: str) -> Path:
        controller, _, file = key.rpartition("/")  # v1: cpu/<file>; v2: <file>
        return tmp_path / controller / "canopy" / "w1-1" / file

    for key, value in cgroups.cpu_files(version, 2.0).items():
        path(key).parent.mkdir(parents=True, exist_ok=True)
        path(key).write_text(value)
    group.limit_cpu(0.5)
    quota = path("cpu/cpu.cfs_quota_us" if version == "v1" else "cpu.max").read_text()
    assert quota == ("50000" if version == "v1" else "50000 100000")


def test_staged_sources_are_named_under_the_stage_directory() -> None:
    assert staged_paths({"rootfs": "/a", "venv": "/b"}, "/s") == {"rootfs": "/s/rootfs", "venv": "/s/venv"}


def test_the_log_keeps_at_most_two_caps_of_the_latest_output(tmp_path: Path) -> None:
    lines = b"".join(b"line %06d\n" % i for i in range(10_000))
    path = tmp_path / "w.log"
    pump = LogPump(io.BufferedReader(io.BytesIO(lines)), path, max_bytes=10_000)  # type: ignore[arg-type]
    pump.join(timeout=5)
    kept = read_log(path)
    assert len(kept) <= 20_000 and kept.endswith(b"line 009999\n")
    assert path.stat().st_size <= 10_000 and pump.rotated.exists()


def test_the_workload_firewall_lets_replies_through_then_drops_everything_from_the_bridge() -> None:
    rules = firewall_rules("CHAIN")
    assert rules[0] == ["CHAIN", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]
    assert rules[-1] == ["CHAIN", "-j", "DROP"] and len(rules) == 2
    assert jump_rule("br0", "CHAIN") == ["INPUT", "-i", "br0", "-j", "CHAIN"]


def test_docker_workloads_join_their_own_network() -> None:
    assert hardening(WorkloadSpec(model_id="m", runtime="docker", image="i"))["network"] == NETWORK
    assert OPTIONS["com.docker.network.bridge.enable_icc"] == "false"


def test_docker_workloads_see_their_package_sdk_and_database_read_only_and_nothing_else() -> None:
    spec = WorkloadSpec(model_id="m", runtime="docker", image="i", package_dir="/p", sdk_dir="/s")
    assert read_only_binds(spec) == {
        "/p": {"bind": "/opt/model", "mode": "ro"},
        "/s": {"bind": "/opt/sdk", "mode": "ro"},
    }
    assert read_only_binds(spec, "/db")["/db"] == {"bind": "/opt/database", "mode": "ro"}


def test_root_filesystems_exist_for_3_11_and_3_9_only() -> None:
    assert (suite_for("3.11").name, suite_for("3.9").name) == ("bookworm", "bullseye")
    with pytest.raises(ValidationFailed, match=r"Debian ships no 3\.10"):
        suite_for("3.10")


def test_an_old_workload_spec_without_a_python_still_decodes() -> None:
    old = '{"model_id": "m", "runtime": "process", "package_dir": "/p", "env_dir": "/e", "sdk_dir": "/s"}'
    assert WorkloadSpec.model_validate_json(old).python == ""
