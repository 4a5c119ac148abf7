"""The platform administrator's fleet pages: nodes with live load, users and roles, services' health."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient

from canopy.deployments.tables import Node, Replica
from canopy.nodes.enrolment import add_node
from canopy.nodes.tables import NodeKey
from canopy.roles import ALL_ROLES, Role
from canopy.runtime.backends import Backends
from canopy.store.models import User
from services.gateway import accounts
from services.gateway.portal.node_history import NodeHistory
from services.gateway.portal.views import admin as admin_views
from services.gateway.portal.views import nodes as node_views
from tests.functional.conftest import bearer
from tests.portal_forms import PortalBrowser

SignIn = Callable[[Role], PortalBrowser]
ADMIN = Role.PLATFORM_ADMIN
PAGES = (
    "/portal/nodes",
    "/portal/nodes/edge-00",
    "/portal/nodes/edge-00/load.json",
    "/portal/users",
    "/portal/services",
)
FORMS = (
    "/portal/nodes/edge-00/remove",
    "/portal/users",
    "/portal/users/admin/role",
    "/portal/users/admin/delete",
)


def report(backends: Backends, node_id: str, age: float = 0.0, cpu: float = 10.0, **extra: object) -> None:
    """Write a node's registry row as the node manager does from its agent's report `age` seconds ago."""
    with backends.store.session() as session:
        node = session.get(Node, node_id) or Node(node_id=node_id)
        node.runtime, node.labels = "process", json.dumps(extra.pop("labels", {"zone": "lab"}))
        node.cpu_percent, node.memory_percent = cpu, 40.0
        node.cpu_count, node.memory_mb, node.max_workloads = 4.0, 8192, 8
        node.workloads = json.dumps(extra.pop("workloads", []))
        node.last_seen = datetime.now(UTC) - timedelta(seconds=age)
        session.add(node)


def enrol(backends: Backends, node_id: str) -> None:
    """Add a node (it gets a key row, as `canopy node add` makes)."""
    with backends.store.session() as session:
        add_node(session, node_id, ["127.0.0.1"], datetime.now(UTC))


@pytest.fixture()
def fleet(backends: Backends) -> Backends:
    """Ten reporting nodes edge-00..edge-09 (edge-09 lost), plus edge-new added but never joined."""
    for number in range(10):
        enrol(backends, f"edge-{number:02d}")
        report(backends, f"edge-{number:02d}", age=60.0 if number == 9 else 0.0, cpu=float(number))
    enrol(backends, "edge-new")
    return backends


def rows(html: str) -> list[str]:
    """The node ids listed in a nodes table, in order."""
    return re.findall(r'data-node="([^"]+)"', html)


def test_every_other_role_is_refused_every_fleet_page(fleet: Backends, signed_in: SignIn) -> None:
    for role in ALL_ROLES - {ADMIN}:
        browser = signed_in(role)
        for path in PAGES:
            assert browser.get(path).status_code == 403, (role, path)
        for path in FORMS:
            reply = browser.post(path, {"name": "x", "role": "end_user", "password": "password-123"})
            assert reply.status_code == 403, (role, path)
    with fleet.store.session() as session:
        assert session.get(NodeKey, "edge-00") is not None
        assert accounts.find_user(session, "admin").role == ADMIN.value


def test_signed_out_visitors_go_to_the_login_page(fleet: Backends, client: FlaskClient) -> None:
    reply = client.get("/portal/nodes")
    assert reply.status_code == 302 and "/portal/login" in reply.headers["Location"]


def test_nodes_list_shows_state_labels_load_report_and_workloads(fleet: Backends, signed_in: SignIn) -> None:
    working = [{"workload_id": "w1", "model_id": "m1", "generation": 1, "state": "ready", "endpoint": "x"}]
    report(fleet, "edge-03", cpu=33.3, labels={"gpu": "yes"}, workloads=working)
    html = signed_in(ADMIN).get("/portal/nodes").get_data(as_text=True)
    assert rows(html) == [f"edge-{n:02d}" for n in range(10)] + ["edge-new"]
    edge3 = html.split('data-node="edge-03"')[1].split("</tr>")[0]
    assert 'data-state="ready"' in edge3 and "gpu=yes" in edge3 and "33.3 %" in edge3 and "40.0 %" in edge3
    assert "1 / 8" in edge3 and "<time datetime=" in edge3
    assert 'data-state="lost"' in html.split('data-node="edge-09"')[1].split("</tr>")[0]
    assert 'data-state="waiting to join"' in html.split('data-node="edge-new"')[1].split("</tr>")[0]


def test_nodes_list_pages_and_filters(
    fleet: Backends, signed_in: SignIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node_views, "PAGE_SIZE", 4)
    browser = signed_in(ADMIN)
    first, third = browser.get("/portal/nodes"), browser.get("/portal/nodes?page=3")
    assert rows(first.get_data(as_text=True)) == ["edge-00", "edge-01", "edge-02", "edge-03"]
    assert "11 in all · page 1 of 3" in first.get_data(as_text=True)
    assert rows(third.get_data(as_text=True)) == ["edge-08", "edge-09", "edge-new"]
    assert rows(browser.get("/portal/nodes?page=99").get_data(as_text=True)) == []
    report(fleet, "edge-05", labels={"site": "Rooftop"})
    assert rows(browser.get("/portal/nodes?q=rooftop").get_data(as_text=True)) == ["edge-05"]
    assert rows(browser.get("/portal/nodes?q=NEW").get_data(as_text=True)) == ["edge-new"]
    assert "No node matches." in browser.get("/portal/nodes?q=nothing").get_data(as_text=True)


def test_node_page_shows_chart_workloads_and_placed_replicas(fleet: Backends, signed_in: SignIn) -> None:
    working = [
        {"workload_id": "w-abc", "model_id": "fan", "generation": 2, "state": "starting", "endpoint": ""}
    ]
    report(fleet, "edge-01", workloads=working)
    with fleet.store.session() as session:
        session.add(
            Replica(workload_id="w-abc", model_id="fan", generation=2, node_id="edge-01", state="ready")
        )
    html = signed_in(ADMIN).get("/portal/nodes/edge-01").get_data(as_text=True)
    assert 'data-chart-url="/portal/nodes/edge-01/load.json"' in html
    assert html.count("w-abc") == 2 and "starting" in html and "ready" in html
    assert 'data-confirm="Remove node edge-01?"' in html
    assert signed_in(ADMIN).get("/portal/nodes/nowhere").status_code == 404


def test_load_json_starts_with_the_current_report_and_grows_with_new_ones(
    fleet: Backends, signed_in: SignIn, client: FlaskClient
) -> None:
    client.application.extensions["canopy-node-history"] = NodeHistory(read_every=0.0)
    browser = signed_in(ADMIN)
    first = browser.get("/portal/nodes/edge-02/load.json").get_json()
    assert set(first) == {"times", "series"}
    assert [s["label"] for s in first["series"]] == ["CPU %", "Memory %"]
    assert len(first["times"]) == 1 and first["series"][0]["values"] == [2.0]
    assert first["series"][1]["values"] == [40.0]
    assert browser.get("/portal/nodes/edge-02/load.json").get_json() == first  # no new report, no new point
    report(fleet, "edge-02", cpu=55.5)
    grown = browser.get("/portal/nodes/edge-02/load.json").get_json()
    assert len(grown["times"]) == 2 and grown["times"][1] > grown["times"][0]
    assert grown["series"][0]["values"] == [2.0, 55.5]
    assert browser.get("/portal/nodes/edge-new/load.json").get_json()["times"] == []
    assert browser.get("/portal/nodes/nowhere/load.json").status_code == 404


def test_node_history_reads_at_most_once_a_second_and_is_bounded() -> None:
    now = [100.0]
    history = NodeHistory(points=3, max_nodes=2, clock=lambda: now[0])
    reads: list[float] = []

    def read() -> node_views.LoadSample:
        reads.append(now[0])
        return node_views.LoadSample(now[0], 1.0, 2.0)

    history.samples("a", read)
    history.samples("a", read)
    assert reads == [100.0]
    for step in range(5):
        now[0] += 1.0 + step
        history.samples("a", read)
    assert len(history.samples("a", read)) == 3
    history.samples("b", read)
    history.samples("c", read)
    assert history.samples("a", lambda: None) == []  # the least recently seen node was forgotten


def test_admin_removes_a_node_like_the_api_does(fleet: Backends, signed_in: SignIn) -> None:
    browser = signed_in(ADMIN)
    browser.get("/portal/nodes/edge-04")
    reply = browser.post("/portal/nodes/edge-04/remove")
    assert reply.status_code == 303 and reply.headers["Location"].endswith("/portal/nodes?done=removed")
    html = browser.get("/portal/nodes?done=removed").get_data(as_text=True)
    assert "The node was removed" in html
    assert 'data-state="removed"' in html.split('data-node="edge-04"')[1].split("</tr>")[0]
    with fleet.store.session() as session:
        assert session.get(NodeKey, "edge-04") is None
    assert "Remove node" not in browser.get("/portal/nodes/edge-04").get_data(as_text=True)
    assert browser.post("/portal/nodes/edge-04/remove").status_code == 404
    assert browser.client.post("/portal/nodes/edge-05/remove").status_code in (400, 403)  # no CSRF token


def test_rest_nodes_carry_the_same_state(
    fleet: Backends, role_tokens: dict[Role, str], client: FlaskClient
) -> None:
    nodes = client.get("/api/v1/nodes", headers=bearer(role_tokens[ADMIN])).get_json()["nodes"]
    states = {node["node_id"]: node["state"] for node in nodes}
    assert states["edge-00"] == "ready" and states["edge-09"] == "lost" and "edge-new" not in states


def user_rows(html: str) -> list[str]:
    """The user names listed on the users page."""
    return re.findall(r'data-user="([^"]+)"', html)


def test_admin_creates_a_user_and_sees_it_listed(backends: Backends, signed_in: SignIn) -> None:
    browser = signed_in(ADMIN)
    browser.get("/portal/users")
    reply = browser.post(
        "/portal/users", {"name": "carol", "role": "app_developer", "password": "carol-pass-1"}
    )
    assert reply.status_code == 303 and "done=created" in reply.headers["Location"]
    html = browser.get(reply.headers["Location"]).get_data(as_text=True)
    assert user_rows(html) == ["carol"] and "The user was created" in html
    assert "<code>app_developer</code>" in html
    carol = PortalBrowser(browser.client.application.test_client())
    assert carol.sign_in("carol", "carol-pass-1").status_code == 303


@pytest.mark.parametrize(
    ("form", "status", "field", "text"),
    [
        (
            {"name": "Bad Name!", "role": "end_user", "password": "password-123"},
            400,
            "name",
            "user name must",
        ),
        ({"name": "admin", "role": "end_user", "password": "password-123"}, 409, "name", "already exists"),
        ({"name": "dave", "role": "workload", "password": "password-123"}, 400, "role", "belongs to app"),
        ({"name": "dave", "role": "boss", "password": "password-123"}, 400, "role", "unknown role"),
        ({"name": "dave", "role": "end_user", "password": "short"}, 400, "password", "at least 8"),
    ],
)
def test_bad_new_users_show_the_error_next_to_the_field(
    backends: Backends, signed_in: SignIn, form: dict[str, str], status: int, field: str, text: str
) -> None:
    browser = signed_in(ADMIN)
    browser.get("/portal/users")
    with backends.store.session() as session:
        before = session.query(User).count()
    reply = browser.post("/portal/users", form)
    html = reply.get_data(as_text=True)
    assert reply.status_code == status
    error = re.search(rf'<p class="field-error" id="{field}-error" role="alert">([^<]*)</p>', html)
    assert error is not None and text in error.group(1), html
    assert len(re.findall(r'class="field-error"', html)) == 1
    assert f'value="{form["name"]}"' in html and form["password"] not in html.split('id="create-user"')[1]
    with backends.store.session() as session:
        assert session.query(User).count() == before


def test_users_page_pages_and_filters(
    backends: Backends, signed_in: SignIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin_views, "PAGE_SIZE", 3)
    browser = signed_in(ADMIN)
    all_names = user_rows(browser.get("/portal/users?page=1").get_data(as_text=True))
    assert all_names == ["admin", "portal-ai-developer", "portal-app-developer"]
    assert "5 in all · page 1 of 2" in browser.get("/portal/users").get_data(as_text=True)
    assert user_rows(browser.get("/portal/users?page=2").get_data(as_text=True)) == [
        "portal-end-user",
        "portal-platform-admin",
    ]
    assert user_rows(browser.get("/portal/users?q=platform_admin").get_data(as_text=True)) == [
        "admin",
        "portal-platform-admin",
    ]


def test_role_changes_keep_a_platform_admin(backends: Backends, signed_in: SignIn) -> None:
    browser = signed_in(ADMIN)
    browser.get("/portal/users")
    reply = browser.post("/portal/users/portal-end-user/role?q=portal", {"role": "ai_developer"})
    assert reply.status_code == 303 and reply.headers["Location"].endswith("/portal/users?q=portal&done=role")
    with backends.store.session() as session:
        assert accounts.find_user(session, "portal-end-user").role == "ai_developer"
    assert browser.post("/portal/users/admin/delete").status_code == 303
    refused = browser.post("/portal/users/portal-platform-admin/role", {"role": "end_user"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 409
    assert 'id="user-portal-platform-admin-error"' in html and "is the last platform_admin" in html
    bad = browser.post("/portal/users/portal-end-user/role", {"role": "boss"})
    assert bad.status_code == 400 and 'id="user-portal-end-user-error"' in bad.get_data(as_text=True)
    assert browser.post("/portal/users/nobody/role", {"role": "end_user"}).status_code == 404
    with backends.store.session() as session:
        assert accounts.find_user(session, "portal-platform-admin").role == ADMIN.value


def test_rest_put_user_changes_the_role_with_the_same_rule(
    backends: Backends, client: FlaskClient, role_tokens: dict[Role, str]
) -> None:
    admin = bearer(role_tokens[ADMIN])
    changed = client.put("/api/v1/users/user-end-user", json={"role": "app_developer"}, headers=admin)
    assert changed.status_code == 200 and changed.get_json()["role"] == "app_developer"
    assert client.put("/api/v1/users/user-end-user", json={"role": "x"}, headers=admin).status_code == 400
    assert client.put("/api/v1/users/admin", json={"role": "end_user"}, headers=admin).status_code == 200
    last = client.put("/api/v1/users/user-platform-admin", json={"role": "end_user"}, headers=admin)
    assert last.status_code == 409 and "last platform_admin" in last.get_json()["error"]["message"]
    for role in ALL_ROLES - {ADMIN}:
        refused = client.put("/api/v1/users/admin", json={"role": "x"}, headers=bearer(role_tokens[role]))
        assert refused.status_code == 403


def test_deleting_oneself_is_refused_next_to_the_row(backends: Backends, signed_in: SignIn) -> None:
    browser = signed_in(ADMIN)
    html = browser.get("/portal/users").get_data(as_text=True)
    assert "Delete user admin and revoke their tokens?" in html
    assert "/portal/users/portal-platform-admin/delete" not in html  # no delete button for oneself
    refused = browser.post("/portal/users/portal-platform-admin/delete")
    assert refused.status_code == 409
    assert 'id="user-portal-platform-admin-error"' in refused.get_data(as_text=True)
    deleted = browser.post("/portal/users/portal-end-user/delete")
    assert deleted.status_code == 303 and "done=deleted" in deleted.headers["Location"]
    with backends.store.session() as session:
        assert session.query(User).filter_by(name="portal-end-user").count() == 0
    assert browser.post("/portal/users/portal-end-user/delete").status_code == 404


def test_a_demoted_admin_loses_the_fleet_pages_at_once(backends: Backends, signed_in: SignIn) -> None:
    demoted = signed_in(ADMIN)
    assert demoted.get("/portal/users").status_code == 200
    with backends.store.session() as session:
        accounts.set_role(session, "portal-platform-admin", Role.END_USER)
    assert demoted.get("/portal/users").status_code == 403


def test_services_page_says_what_the_gateway_can_check(fleet: Backends, signed_in: SignIn) -> None:
    html = signed_in(ADMIN).get("/portal/services").get_data(as_text=True)
    assert 'data-status="ok"' in html
    assert 'data-component="store"' in html and 'data-component="blob"' in html
    assert "No heartbeat heard from a service in another process yet." in html
    assert rows(html) == [f"edge-{n:02d}" for n in range(10)] + ["edge-new"]
    assert 'data-state="lost"' in html.split('data-node="edge-09"')[1].split("</tr>")[0]


def test_services_page_names_a_failing_backend(
    fleet: Backends, signed_in: SignIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(key: str) -> bool:
        raise OSError("disk gone")

    monkeypatch.setattr(fleet.blob, "exists", broken)
    html = signed_in(ADMIN).get("/portal/services").get_data(as_text=True)
    assert 'data-status="failing"' in html and "unreachable: OSError" in html
