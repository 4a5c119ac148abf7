"""What an app workload runs, with what environment and port, and when it counts as ready: pure decisions."""

from __future__ import annotations

import pytest

from canopy.config import gateway_url, load_config
from canopy.contracts.deploy import DeployRequest, WorkloadSpec
from canopy.workloads.docker_hardening import CONTAINER_PORT, container_port, hardening
from canopy.workloads.docker_network import gateway_rule
from canopy.workloads.launch import app_variables, has_endpoint, launch_command, listen_port
from canopy.workloads.runtime import APP_SETTLE_SECONDS, Probe, probe_for
from services.gateway.views.app_proxy import from_app

MODEL = WorkloadSpec(model_id="m1", runtime="process")
PAGE_APP = WorkloadSpec(
    model_id="i1",
    kind="app",
    runtime="process",
    entry="page:serve",
    page_port=8000,
    env={"CANOPY_INSTANCE_ID": "i1", "CANOPY_TOKEN": "cni_i1_s"},
)
LEGACY_APP = PAGE_APP.model_copy(update={"entry": "app.py", "page_port": 6015, "fixed_port": True})
HEADLESS_APP = PAGE_APP.model_copy(update={"page_port": 0})


def test_models_keep_their_server_command_and_get_no_platform_variable() -> None:
    command = launch_command(MODEL, "/opt/venv/bin/python", "/opt/model", "127.0.0.1", 4000)
    assert command[1:3] == ["-m", "platform_sdk.serving"] and command[-2:] == ["--model-id", "m1"]
    assert app_variables(MODEL, "http://gw", 4000) == {}
    assert listen_port(MODEL, 4000) == 4000 and has_endpoint(MODEL) and probe_for(MODEL) == Probe()


def test_an_app_runs_its_entry_with_exactly_its_variables() -> None:
    assert launch_command(PAGE_APP, "py", "/opt/model", "0.0.0.0", 9) == [
        "py",
        "-m",
        "platform_sdk.runner",
        "page:serve",
    ]
    assert app_variables(PAGE_APP, "http://gw:1", 4100) == {
        "CANOPY_INSTANCE_ID": "i1",
        "CANOPY_TOKEN": "cni_i1_s",
        "CANOPY_API_URL": "http://gw:1",
        "CANOPY_APP_PORT": "4100",
    }
    assert "CANOPY_APP_PORT" not in app_variables(HEADLESS_APP, "http://gw:1", 0)


def test_page_ports_free_fixed_or_none() -> None:
    assert listen_port(PAGE_APP, 4100) == 4100  # Canopy apps listen where CANOPY_APP_PORT says
    assert listen_port(LEGACY_APP, 4100) == 6015  # original-format apps listen where they always did
    assert not has_endpoint(HEADLESS_APP)
    docker_app = PAGE_APP.model_copy(update={"runtime": "docker"})
    assert container_port(docker_app) == 8000 and container_port(MODEL) == CONTAINER_PORT
    assert hardening(docker_app)["ports"] == {"8000/tcp": ("127.0.0.1", None)}
    assert hardening(HEADLESS_APP)["ports"] == {}


def test_readiness_a_page_answers_or_two_seconds_alive() -> None:
    assert probe_for(PAGE_APP) == Probe("/", health=False)
    assert probe_for(HEADLESS_APP) == Probe("", health=False, settle=APP_SETTLE_SECONDS)


def test_the_firewall_lets_workloads_reach_exactly_the_gateway_port_on_the_bridge() -> None:
    rule = gateway_rule("172.20.0.1", 8080, "CHAIN")
    assert rule == ["CHAIN", "-d", "172.20.0.1", "-p", "tcp", "--dport", "8080", "-j", "ACCEPT"]


@pytest.mark.parametrize(
    ("environ", "url"),
    [
        ({}, "http://127.0.0.1:8080"),
        ({"CANOPY_API_HOST": "0.0.0.0", "CANOPY_API_PORT": "9000"}, "http://127.0.0.1:9000"),
        ({"CANOPY_API_HOST": "10.0.0.5"}, "http://10.0.0.5:8080"),
        ({"CANOPY_GATEWAY_URL": "https://gw.example:8443/"}, "https://gw.example:8443"),
    ],
)
def test_the_gateway_url_workloads_get(environ: dict[str, str], url: str) -> None:
    assert gateway_url(load_config({"CANOPY_HOME": "/tmp/canopy-unit", **environ})) == url


def test_deploy_contracts_default_to_models() -> None:
    assert DeployRequest(model_id="m", generation=1, replicas=1).kind == "model"
    assert MODEL.kind == "model" and MODEL.env == {} and MODEL.entry == ""


def test_the_proxy_drops_cookies_and_hop_by_hop_headers_and_prefixes_local_redirects() -> None:
    upstream = [
        ("Content-Type", "text/html"),
        ("Set-Cookie", "session=stolen; Path=/"),
        ("Connection", "keep-alive"),
        ("Transfer-Encoding", "chunked"),
        ("Location", "/login"),
        ("Content-Length", "10"),
    ]
    assert from_app(upstream, "/apps/i1") == [
        ("Content-Type", "text/html"),
        ("Location", "/apps/i1/login"),
        ("Content-Length", "10"),
    ]
    kept = [("Location", "/apps/i1/x"), ("Location", "//other/x"), ("Location", "http://x/y")]
    assert from_app(kept, "/apps/i1") == kept
