"""Upload-to-first-prediction benchmark per runtime (warm base image and wheel cache), printed as JSON.

Usage: python tests/bench/models.py [--runtimes process,docker] [--runs 5]

Each run uploads a fresh version of an example package through the REST API, deploys it with one
replica, and times until its first prediction through `model_call` answers; the replica is then
undeployed. Embedded backends (SQLite bus and store, local files); one agent per runtime. The first
(warm-up) run of each package and runtime fills the wheel cache, the virtualenv or the dependencies
image and is reported separately. Targets (p50): scikit-learn <= 5 s, the fan-anomaly TFLite model <= 15 s;
on docker, scikit-learn <= 1.5 s.

On docker the first run of a package starts cold and leaves a pool container of its image behind
(CANOPY_DOCKER_POOL), which the next run takes: runs that took one say so ("pool_runs") and their
create and start stages are replaced by "handover" (start asked to the package handed over) and load.
The warm-up run's stages ("warmup_stages_s") are the cold path's, measured in the same run. Before
each docker run the bench waits until the node's pool container has imported its framework (it does so
at the lowest CPU weight, behind the bare baseline): "pool_ready_wait_p50_s" is that wait.

Each run is split into stages (medians in "stages_p50_s"): upload (the request), queue (accepted to
the deployer's first event), unpack and place, build (virtualenv or dependencies image), create and
start (the container's creation and start times; process: the whole start), load (started to the
replica answering /health), register (the agent's verdict to the deployment's "ready", seen by a
poll every 50 ms) and first_request. On docker, each run is followed by the same-run baseline
"bare_docker_run_p50_s": a container of the same image, with the same limits (the CPU the replica may
use while it starts) and bound SDK, that only imports the model server and the model's framework,
timed from create to the line it prints once they are imported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.deploy_helpers import IRIS_INPUT, IRIS_PACKAGE, enrolled_key, share_build_caches, zip_package

ROOT = Path(__file__).resolve().parents[2]
FAN_INPUT = {"rpm": 598.0, "vibration": 0.31, "temperature": 45.2, "sound": 60.4}
PACKAGES: dict[str, tuple[Path, dict[str, float], float]] = {
    "sklearn-iris": (IRIS_PACKAGE, IRIS_INPUT, 5.0),
    "fan-anomaly-tflite": (ROOT / "examples/models/fan-anomaly/package", FAN_INPUT, 15.0),
}
DOCKER_TARGETS = {"sklearn-iris": 1.5}
POLL_SECONDS = 0.05  # between deployment views: at 100/s the in-process gateway took a fifth of a core
IMPORTED = "imports-done"  # what the bare container prints once it has imported
POOLED = b"waiting for a package"  # what a pool container prints once it has imported its framework
POOL_WAIT_SECONDS = 180.0
IMPORTS = {  # what a bare container of the same image imports: the model server and the framework
    "sklearn-iris": "import platform_sdk.serving.__main__, sklearn.linear_model",
    "fan-anomaly-tflite": "import platform_sdk.serving.__main__, numpy, ai_edge_litert.interpreter",
}


def _platform(home: Path) -> tuple[Any, Any, str]:
    """Start gateway, node manager, deployer and one agent per runtime on embedded backends."""
    from canopy.config import load_config
    from canopy.roles import Role
    from canopy.runtime import Service
    from canopy.runtime.backends import open_backends
    from services.deployer.service import deployer_components
    from services.gateway import accounts
    from services.gateway.app import create_app
    from services.gateway.server import HttpServer
    from services.node_agent.service import agent_components
    from services.node_manager.service import node_manager_components

    os.environ["CANOPY_HOME"] = str(home)
    backends = open_backends(load_config())
    with backends.store.session() as session:
        user = accounts.create_user(session, "bench", Role.AI_DEVELOPER, "password-123")
        token = accounts.issue_token(session, user, timedelta(hours=1)).secret
    gateway = HttpServer(create_app(backends), "127.0.0.1", 0)
    components = [gateway, *node_manager_components(backends), *deployer_components(backends)]
    for runtime in ("process", "docker"):
        node_id = f"bench-{runtime}"
        key = enrolled_key(backends, node_id)
        components += agent_components(backends, node_id, key, runtime=runtime, labels={"rt": runtime})
    service = Service("bench", components)
    service.start()
    return service, backends, f"http://127.0.0.1:{gateway.port}|{token}"


def _one_run(api: str, token: str, runtime: str, version: str, package_name: str) -> dict[str, Any]:
    """One upload to first answered prediction: its total seconds, its stages, and the docker baseline."""
    from platform_sdk._client import ApiClient
    from platform_sdk.models import ModelClient

    headers = {"Authorization": f"Bearer {token}"}
    folder, sample, _ = PACKAGES[package_name]
    manifest = json.loads((folder / "model.json").read_text())
    manifest["version"] = version
    package = zip_package(folder, {"model.json": json.dumps(manifest)})
    started = time.time()
    upload = requests.post(
        f"{api}/api/v1/models", files={"file": ("p.zip", package)}, headers=headers, timeout=60
    )
    if upload.status_code != 201:
        raise RuntimeError(f"upload refused: {upload.text}")
    model_id = upload.json()["id"]
    marks: dict[str, Any] = {"uploaded": time.time()}
    body = {"replicas": 1, "node_labels": {"rt": runtime}}
    requests.post(
        f"{api}/api/v1/models/{model_id}/deploy", json=body, headers=headers, timeout=30
    ).raise_for_status()
    marks["deploy_accepted"] = time.time()
    client = ModelClient(ApiClient(api, token))
    while True:
        view = requests.get(f"{api}/api/v1/models/{model_id}/deployment", headers=headers, timeout=30).json()
        if view["status"] == "failed":
            raise RuntimeError(f"{runtime} deployment failed: {view['message']} {view['logs']}")
        if view["status"] == "ready":
            break
        time.sleep(POLL_SECONDS)
    marks["ready_seen"] = time.time()
    client.call(model_id, sample, timeout=10)
    marks["answered"] = time.time()
    marks.update(_event_marks(view["events"]))
    baseline = None
    if runtime == "docker":
        marks.update(_container_marks(marks.pop("workload")))
        baseline = _bare_run(marks.pop("container"), package_name)
    else:
        marks.pop("workload")
    requests.post(f"{api}/api/v1/models/{model_id}/undeploy", headers=headers, timeout=30)
    stages = _stages(started, marks)
    return {
        "total": marks["answered"] - started,
        "stages": stages,
        "bare": baseline,
        "pool": "handover" in stages,
    }


def _await_pool(node_id: str) -> float:
    """Seconds until the node has a pool container that imported its framework (0 if it has none)."""
    import docker

    from canopy.workloads.docker_pool import POOL_LABEL

    client = docker.from_env()
    started = time.time()
    while time.time() < started + POOL_WAIT_SECONDS:
        found = client.containers.list(filters={"label": [f"canopy.node={node_id}", POOL_LABEL]})
        unassigned = [c for c in found if c.name.startswith("canopy_pool_")]
        if not unassigned or any(POOLED in c.logs() for c in unassigned):
            return time.time() - started
        time.sleep(0.1)
    raise RuntimeError(f"no pool container of {node_id} imported its framework in {POOL_WAIT_SECONDS} s")


def _event_marks(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Times of the deployment's events: first event, build asked, start asked, replica ready, all ready."""
    marks: dict[str, Any] = {}
    for event in events:
        at = datetime.fromisoformat(event["at"]).timestamp()
        message = event["message"]
        marks.setdefault("first_event", at)
        if event["stage"] == "building" and not message.startswith("fetching"):
            marks["build_asked"] = at
        elif event["stage"] == "starting" and message.startswith("starting "):
            marks["start_asked"], marks["workload"] = at, message.split()[1]
        elif event["stage"] == "starting" and " ready at " in message:
            marks["replica_ready"] = at
        elif event["stage"] == "ready":
            marks["ready"] = at
    return marks


def _container_marks(workload_id: str) -> dict[str, Any]:
    """When docker created and started the replica's container (or handed it over from the pool), and it."""
    import docker

    from canopy.workloads.docker_pool import HANDED_OVER, container_facts

    client = docker.from_env()
    container = client.containers.get(f"canopy-{workload_id}")
    facts = container_facts(container.labels)
    if HANDED_OVER in facts:
        return {"handed_over": float(facts[HANDED_OVER]), "container": container}
    return {
        "created": _docker_time(container.attrs["Created"]),
        "container_started": _docker_time(container.attrs["State"]["StartedAt"]),
        "container": container,
    }


def _docker_time(text: str) -> float:
    """A docker timestamp (RFC 3339 with nanoseconds) as epoch seconds."""
    head, _, rest = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(head).replace(tzinfo=UTC).timestamp() + float(f"0.{rest or 0}")


def _bare_run(replica: Any, package_name: str) -> float:
    """Seconds from create to imports done (its output says so) of a container like the replica's."""
    from canopy.workloads.docker_hardening import CPU_LABEL, cpu_limit, starting_cpu
    from canopy.workloads.docker_pool import container_facts

    host = replica.attrs["HostConfig"]
    started = time.time()
    container = replica.client.containers.create(
        replica.attrs["Config"]["Image"],
        command=["/opt/venv/bin/python", "-c", f"{IMPORTS[package_name]}; print('{IMPORTED}', flush=True)"],
        environment=replica.attrs["Config"]["Env"],
        user=replica.attrs["Config"]["User"],
        working_dir="/opt/model",
        volumes=host["Binds"],
        read_only=True,
        cap_drop=["ALL"],
        security_opt=host["SecurityOpt"],
        tmpfs=host["Tmpfs"],
        mem_limit=host["Memory"],
        **cpu_limit(
            starting_cpu(float(container_facts(replica.labels)[CPU_LABEL]), replica.client.info()["NCPU"])
        ),
        pids_limit=host["PidsLimit"],
        network=host["NetworkMode"],
        ports={port: ("127.0.0.1", None) for port in host["PortBindings"]},
    )
    try:
        container.start()
        output = b""
        for chunk in container.logs(stream=True, follow=True):
            output += chunk
            if IMPORTED.encode() in output:
                return time.time() - started
        raise RuntimeError(f"the bare container failed: {output[-500:]!r}")
    finally:
        container.remove(force=True)


def _stages(started: float, marks: dict[str, float]) -> dict[str, float]:
    """Seconds per stage from the marks of one run (create/start only where docker reported them)."""
    points = [
        ("upload", "uploaded"),
        ("queue", "first_event"),
        ("unpack_place", "build_asked"),
        ("build", "start_asked"),
        ("create", "created"),
        ("start", "container_started"),
        ("handover", "handed_over"),
        ("load", "replica_ready"),
        ("register", "ready_seen"),
        ("first_request", "answered"),
    ]
    stages, previous = {}, started
    for stage, mark in points:
        if mark in marks:
            stages[stage] = marks[mark] - previous
            previous = marks[mark]
    return stages


def _summary(warmup: dict[str, Any], runs: list[dict[str, Any]], target: float) -> dict[str, Any]:
    """The figures of one package on one runtime: totals, stage medians and the bare docker baseline."""
    times = [run["total"] for run in runs]
    names = dict.fromkeys(name for run in runs for name in run["stages"])
    stages = {
        name: statistics.median(r["stages"][name] for r in runs if name in r["stages"]) for name in names
    }
    summary: dict[str, Any] = {
        "warmup_s": round(warmup["total"], 3),
        "warmup_stages_s": {name: round(seconds, 3) for name, seconds in warmup["stages"].items()},
        "p50_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
        "all_s": [round(t, 3) for t in times],
        "stages_p50_s": {name: round(seconds, 3) for name, seconds in stages.items()},
        "target_p50_s": target,
        "meets_target": statistics.median(times) <= target,
    }
    if runs[0]["bare"] is not None:
        bare = statistics.median(run["bare"] for run in runs)
        summary["pool_runs"] = sum(run["pool"] for run in runs)
        summary["pool_ready_wait_p50_s"] = round(statistics.median(run["waited"] for run in runs), 3)
        summary["warmup_bare_docker_run_s"] = round(warmup["bare"], 3)
        summary["bare_docker_run_p50_s"] = round(bare, 3)
        summary["over_bare_docker_run_s"] = round(statistics.median(times) - bare, 3)
    return summary


def main() -> None:
    """Run the benchmark and print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtimes", default="process,docker")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--packages", default=",".join(PACKAGES), help=f"from {', '.join(PACKAGES)}")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="canopy-bench-") as tmp:
        home = Path(tmp)
        share_build_caches(home)
        service, backends, address = _platform(home)
        api, token = address.split("|")
        result: dict[str, Any] = {"runs": args.runs, "load_average_1m": [os.getloadavg()[0]], "packages": {}}
        try:
            time.sleep(3)  # let the agents report once
            for number, (package_name, runtime) in enumerate(
                (p, r) for p in args.packages.split(",") for r in args.runtimes.split(",")
            ):
                target = PACKAGES[package_name][2]
                if runtime == "docker":
                    target = DOCKER_TARGETS.get(package_name, target)
                warmup = _one_run(api, token, runtime, f"{number}.0.0", package_name)
                runs = []
                for i in range(args.runs):
                    waited = _await_pool(f"bench-{runtime}") if runtime == "docker" else 0.0
                    runs.append(
                        {**_one_run(api, token, runtime, f"{number}.1.{i}", package_name), "waited": waited}
                    )
                result["packages"].setdefault(package_name, {})[runtime] = _summary(warmup, runs, target)
        finally:
            time.sleep(3)
            service.stop()
            backends.close()
    result["load_average_1m"].append(os.getloadavg()[0])  # start and end: other work skews figures
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
