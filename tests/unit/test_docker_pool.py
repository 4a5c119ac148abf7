"""The docker warm pool's bookkeeping, against a fake engine: one per image, taken once, a workload after."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from docker.errors import NotFound

from canopy.contracts.deploy import Resources, WorkloadSpec
from canopy.workloads import docker_runtime, docker_warm
from canopy.workloads.docker_hardening import CPU_LABEL, LABEL, container_name, cpu_limit
from canopy.workloads.docker_pool import HANDOVER_FILE, POOL_LABEL, SLOT_LABEL, Slot, WarmPool, pool_key
from canopy.workloads.docker_runtime import DockerRuntime


class FakeContainer:
    """A container of the fake engine: labels fixed at creation, a name, limits updated in place."""

    def __init__(self, engine: FakeEngine, name: str, labels: dict[str, str], run: dict[str, Any]) -> None:
        self.engine, self.name, self.labels, self.run = engine, name, labels, run
        self.id = uuid.uuid4().hex
        self.short_id = self.id[:12]
        self.status = "running"
        self.updates: list[dict[str, Any]] = []
        self.attrs = {"NetworkSettings": {"Ports": {"8000/tcp": [{"HostPort": "40000"}]}}}

    def reload(self) -> None:
        """Nothing to refresh: the fake's state is its own."""

    def update(self, **limits: Any) -> None:
        """Record a limits update."""
        self.updates.append(limits)

    def rename(self, name: str) -> None:
        """Take a new name."""
        self.name = name

    def remove(self, force: bool = False) -> None:
        """Leave the engine."""
        self.engine.items.remove(self)

    def logs(self, **options: Any) -> bytes:
        """No output."""
        return b""


class FakeEngine:
    """The few calls of the docker SDK the runtime makes, on containers kept in a list."""

    def __init__(self) -> None:
        self.items: list[FakeContainer] = []
        self.containers = self

    def run(self, image: str, **options: Any) -> FakeContainer:
        """Create and start a container."""
        container = FakeContainer(self, options["name"], options["labels"], {"image": image, **options})
        self.items.append(container)
        return container

    def get(self, name: str) -> FakeContainer:
        """A container by name or id."""
        for container in self.items:
            if name in (container.name, container.id):
                return container
        raise NotFound(name)

    def list(self, all: bool = False, filters: dict[str, str] | None = None) -> list[FakeContainer]:
        """The containers of the node the label filter names (running ones unless all)."""
        node = (filters or {})["label"].split("=", 1)[1]
        found = [c for c in self.items if c.labels.get("canopy.node") == node]
        return [c for c in found if all or c.status == "running"]

    def info(self) -> dict[str, int]:
        """Two CPUs."""
        return {"NCPU": 2}

    def close(self) -> None:
        """Nothing to close."""


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    """A fake engine; the workload network is taken as made."""
    monkeypatch.setattr(docker_warm, "ensure_network", lambda client: "canopy-workloads")
    monkeypatch.setattr(docker_runtime, "ensure_network", lambda client: "canopy-workloads")
    return FakeEngine()


def _spec(tmp_path: Path, model_id: str, **changes: Any) -> WorkloadSpec:
    """A docker model spec of the deps:iris image whose package holds a model file and a sub-folder."""
    package = tmp_path / "packages" / model_id
    (package / "hooks").mkdir(parents=True)
    (package / "model.pkl").write_bytes(b"model of " + model_id.encode())
    (package / "hooks" / "pre.py").write_text("x = 1\n")
    fields = {"model_id": model_id, "runtime": "docker", "image": "deps:iris", "package_dir": str(package)}
    return WorkloadSpec(**{**fields, "sdk_dir": str(tmp_path / "sdk"), **changes})


def _runtime(engine: FakeEngine, tmp_path: Path, pool: bool = True) -> DockerRuntime:
    """A runtime on the fake engine, with a pool when asked."""
    return DockerRuntime("n1", pool_dir=tmp_path / "pool" if pool else None, client=engine)  # type: ignore[arg-type]


def _settled(runtime: DockerRuntime, workload_id: str) -> None:
    """Settle a workload, then wait until its image's pool container is provided."""
    runtime.settle(workload_id)
    runtime.pool.wait()


def _started_with_pool(runtime: DockerRuntime, workload_id: str, spec: WorkloadSpec) -> None:
    """Start and settle a workload, then wait until its image's pool container is provided."""
    runtime.start(workload_id, spec, 1)
    _settled(runtime, workload_id)


def test_the_next_model_of_an_image_takes_the_pool_container_with_its_package_limits_and_name(
    engine: FakeEngine, tmp_path: Path
) -> None:
    runtime = _runtime(engine, tmp_path)
    _started_with_pool(runtime, "w1", _spec(tmp_path, "m1"))
    (pooled,) = runtime.pool.kept()
    assert pooled.name.startswith("canopy_pool_") and runtime.workloads() == ["w1"]
    assert pooled.run["cpu_shares"] == docker_warm.POOL_CPU_SHARES and pooled.run["user"] == "10001:10001"
    assert (
        pooled.run["read_only"]
        and pooled.run["cap_drop"] == ["ALL"]
        and "CANOPY_API_URL" not in str(pooled.run)
        and pooled.run["network"] == "canopy-workloads"
    )
    slot = Slot(Path(pooled.labels[SLOT_LABEL]))
    assert list(slot.package.iterdir()) == [] and list(slot.handover.iterdir()) == []

    second = _spec(tmp_path, "m2", resources=Resources(cpu=0.5, memory_mb=300))
    assert runtime.start("w2", second, 7) == "http://127.0.0.1:40000"
    assert engine.get(container_name("w2")) is pooled and len(engine.items) == 2  # no cold container
    assert (slot.package / "model.pkl").read_bytes() == b"model of m2"
    assert (slot.package / "hooks" / "pre.py").exists()
    assert json.loads((slot.handover / HANDOVER_FILE).read_text()) == {"model_id": "m2"}
    assert pooled.updates[0] == {
        "cpu_shares": 1024,
        "mem_limit": "300m",
        "memswap_limit": "300m",
        "cpu_period": 100_000,
        "cpu_quota": 100_000,  # the whole core it may load on
    }
    _settled(runtime, "w2")
    assert pooled.updates[1] == {"cpu_period": 100_000, "cpu_quota": 50_000}  # then its own limit
    assert sorted(runtime.workloads()) == ["w1", "w2"] and runtime.running("w2")
    assert runtime.pool.containers.has(pool_key(second)) and len(engine.items) == 3  # one for the next


def test_an_app_or_a_model_with_a_database_or_a_node_without_a_pool_starts_cold(
    engine: FakeEngine, tmp_path: Path
) -> None:
    runtime = _runtime(engine, tmp_path)
    _started_with_pool(runtime, "w1", _spec(tmp_path, "m1"))
    app = _spec(tmp_path, "a1", kind="app", entry="app.py")
    assert not runtime.pool.pools(app) and not runtime.pool.pools(_spec(tmp_path, "d1", database=True))
    assert not runtime.pool.pools(_spec(tmp_path, "e1", package_dir=""))  # nothing to hand over
    other_image = _spec(tmp_path, "m3", image="deps:other")
    runtime.start("w3", other_image, 1)
    assert engine.get(container_name("w3")).labels[LABEL] == "w3" and len(runtime.pool.kept()) == 1
    bare = _runtime(FakeEngine(), tmp_path, pool=False)
    _started_with_pool(bare, "w1", _spec(tmp_path, "m4"))
    assert bare.pool.kept() == []


def test_a_pool_container_that_exited_is_removed_and_the_model_starts_cold(
    engine: FakeEngine, tmp_path: Path
) -> None:
    runtime = _runtime(engine, tmp_path)
    _started_with_pool(runtime, "w1", _spec(tmp_path, "m1"))
    (pooled,) = runtime.pool.kept()
    pooled.status = "exited"
    runtime.start("w2", _spec(tmp_path, "m2"), 1)
    assert pooled not in engine.items and not Path(pooled.labels[SLOT_LABEL]).exists()
    assert engine.get(container_name("w2")).labels[LABEL] == "w2"


def test_a_taken_pool_container_is_adopted_stopped_and_its_slot_removed_an_untaken_one_never_adopted(
    engine: FakeEngine, tmp_path: Path
) -> None:
    runtime = _runtime(engine, tmp_path)
    _started_with_pool(runtime, "w1", _spec(tmp_path, "m1"))
    (taken,) = runtime.pool.kept()
    runtime.start("w2", _spec(tmp_path, "m2", resources=Resources(cpu=0.5)), 4)
    _settled(runtime, "w2")
    (untaken,) = runtime.pool.kept()

    restarted = _runtime(engine, tmp_path)  # the agent came back: its pool is new, the old one goes
    adopted = {(a.workload_id, a.model_id, a.generation, a.endpoint) for a in restarted.adopt()}
    assert adopted == {("w1", "m1", 1, "http://127.0.0.1:40000"), ("w2", "m2", 4, "http://127.0.0.1:40000")}
    assert untaken not in engine.items and not Path(untaken.labels[SLOT_LABEL]).exists()
    assert taken.updates[-1] == cpu_limit(0.5)  # the limit its record holds: its labels are the pool's
    assert LABEL not in taken.labels and CPU_LABEL not in taken.labels and POOL_LABEL in taken.labels

    restarted.stop("w2")
    assert taken not in engine.items and not Path(taken.labels[SLOT_LABEL]).exists()
    assert restarted.workloads() == ["w1"]


def test_close_removes_the_untaken_pool_containers_and_leaves_workloads_running(
    engine: FakeEngine, tmp_path: Path
) -> None:
    runtime = _runtime(engine, tmp_path)
    _started_with_pool(runtime, "w1", _spec(tmp_path, "m1"))
    runtime.close()
    assert [c.name for c in engine.items] == [container_name("w1")]
    assert list((tmp_path / "pool").iterdir()) == []


def test_the_pool_keeps_one_container_per_key_for_its_most_recently_used_images() -> None:
    pool: WarmPool[str] = WarmPool(images=2)
    assert pool.keep("a", "a1") == [] and pool.keep("a", "a2") == ["a1"]
    assert pool.keep("b", "b1") == [] and pool.keep("c", "c1") == ["a2"]
    assert pool.take("b") == "b1" and pool.take("b") is None and not pool.has("b")
    assert pool.kept() == ["c1"] and pool.clear() == ["c1"] and pool.kept() == []


def test_a_slot_holds_no_record_before_its_handover_and_a_whole_one_after(tmp_path: Path) -> None:
    slot = Slot.create(tmp_path / "slot")
    assert slot.facts() == {} and oct(slot.package.stat().st_mode & 0o777) == "0o755"
    slot.write_record({LABEL: "w", "canopy.model": "m"})
    assert (
        slot.facts() == {LABEL: "w", "canopy.model": "m"}
        and not (tmp_path / "slot" / "record.partial").exists()
    )
    slot.remove()
    assert slot.facts() == {} and not slot.root.exists()
