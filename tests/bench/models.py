"""Upload-to-first-prediction benchmark per runtime (warm base image and wheel cache), printed as JSON.

Usage: python tests/bench/models.py [--runtimes process,docker] [--runs 5]

Each run uploads a fresh version of an example package through the REST API, deploys it with one
replica, and times until its first prediction through `model_call` answers; the replica is then
undeployed. Embedded backends (SQLite bus and store, local files); one agent per runtime. The first
(warm-up) run of each package and runtime fills the wheel cache, the virtualenv or the dependencies
image and is reported separately. Targets (p50): scikit-learn <= 5 s, the fan-anomaly TFLite model <= 15 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
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


def _one_run(api: str, token: str, runtime: str, version: str, package_name: str) -> float:
    """Seconds from the upload request to the first answered prediction."""
    from platform_sdk._client import ApiClient
    from platform_sdk.models import ModelClient

    headers = {"Authorization": f"Bearer {token}"}
    folder, sample, _ = PACKAGES[package_name]
    manifest = json.loads((folder / "model.json").read_text())
    manifest["version"] = version
    package = zip_package(folder, {"model.json": json.dumps(manifest)})
    started = time.perf_counter()
    upload = requests.post(
        f"{api}/api/v1/models", files={"file": ("p.zip", package)}, headers=headers, timeout=60
    )
    if upload.status_code != 201:
        raise RuntimeError(f"upload refused: {upload.text}")
    model_id = upload.json()["id"]
    body = {"replicas": 1, "node_labels": {"rt": runtime}}
    requests.post(
        f"{api}/api/v1/models/{model_id}/deploy", json=body, headers=headers, timeout=30
    ).raise_for_status()
    client = ModelClient(ApiClient(api, token))
    while True:
        view = requests.get(f"{api}/api/v1/models/{model_id}/deployment", headers=headers, timeout=30).json()
        if view["status"] == "failed":
            raise RuntimeError(f"{runtime} deployment failed: {view['message']} {view['logs']}")
        if view["status"] == "ready":
            break
        time.sleep(0.05)
    client.call(model_id, sample, timeout=10)
    elapsed = time.perf_counter() - started
    if os.environ.get("BENCH_TRACE"):
        trace = [(e["at"][17:], e["stage"], e["message"][:60]) for e in view["events"]]
        print(json.dumps(trace), file=sys.stderr)
    requests.post(f"{api}/api/v1/models/{model_id}/undeploy", headers=headers, timeout=30)
    return elapsed


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
        result: dict[str, Any] = {"runs": args.runs, "packages": {}}
        try:
            time.sleep(3)  # let the agents report once
            for number, (package_name, runtime) in enumerate(
                (p, r) for p in args.packages.split(",") for r in args.runtimes.split(",")
            ):
                target = PACKAGES[package_name][2]
                warmup = _one_run(api, token, runtime, f"{number}.0.0", package_name)
                times = [
                    _one_run(api, token, runtime, f"{number}.1.{i}", package_name) for i in range(args.runs)
                ]
                result["packages"].setdefault(package_name, {})[runtime] = {
                    "warmup_s": round(warmup, 3),
                    "p50_s": round(statistics.median(times), 3),
                    "max_s": round(max(times), 3),
                    "all_s": [round(t, 3) for t in times],
                    "target_p50_s": target,
                    "meets_target": statistics.median(times) <= target,
                }
        finally:
            time.sleep(3)
            service.stop()
            backends.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
