"""The device pages of the portal: types by JSON and zip, device registration, the tree, charts, commands."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from canopy import devices
from canopy.contracts.devices import DeviceCommand
from canopy.roles import Role
from canopy.runtime.backends import Backends
from services.device_manager.service import device_manager_components
from tests.deploy_helpers import wait_for
from tests.fake_controllers import acknowledging
from tests.fixtures.device_packages.corpus import BAD_TYPE_UPLOADS, NEW_TYPES, sample, zip_bytes
from tests.functional.conftest import bearer
from tests.portal_forms import PortalBrowser

SignIn = Callable[[Role], PortalBrowser]
THERMOMETER = sample("types/thermometer.json")
SMARTFAN = sample("types/fan.json")
CREDENTIAL = re.compile(r'<code class="credential" data-device="([^"]+)">([^<]+)</code>')


def _type_names(backends: Backends) -> list[str]:
    with backends.store.session() as session:
        return [row.name for row, _ in devices.list_types(session)]


def _device_ids(backends: Backends) -> list[str]:
    with backends.store.session() as session:
        return [device.id for device in devices.list_devices(session)]


def _register(backends: Backends, *types: dict, fleet: tuple[tuple[str, str, str, str], ...] = ()) -> dict:
    """Register types and (id, type, location, transport) devices with the domain code; their credentials."""
    credentials = {}
    with backends.store.session() as session:
        for definition in types:
            devices.register_type(session, devices.parse_type(definition))
        for device_id, type_name, location, transport in fleet:
            spec = devices.parse_device(
                {"id": device_id, "type": type_name, "location": location, "transport": transport}
            )
            credentials[device_id] = devices.create_device(session, spec).credential
    return credentials


def test_a_type_registers_from_its_pasted_json(signed_in: SignIn, backends: Backends) -> None:
    admin = signed_in(Role.PLATFORM_ADMIN)
    assert admin.get("/portal/device-types").status_code == 200
    made = admin.post("/portal/device-types", {"definition": json.dumps(THERMOMETER)})
    assert made.status_code == 303 and made.headers["Location"].endswith("done=type-created")
    page = admin.get(made.headers["Location"]).get_data(as_text=True)
    assert "The device type was registered." in page and "THERMOMETER" in page
    again = admin.post("/portal/device-types", {"definition": json.dumps(THERMOMETER)})
    assert again.headers["Location"].endswith("done=type-unchanged")
    assert _type_names(backends) == ["THERMOMETER"]


@pytest.mark.parametrize(
    ("definition", "status", "says"),
    [
        ("{not json", 400, "not valid JSON"),
        (json.dumps({"name": "X", "kind": "sensor"}), 400, "a sensor type needs at least one entry"),
        (json.dumps({"name": "bad name!", "kind": "sensor", "fields": {"t": {"type": "int"}}}), 400, "name"),
        ("[" * 40 + "]" * 40, 400, "nests deeper"),
    ],
)
def test_a_bad_pasted_type_shows_its_error_next_to_the_field_and_stores_nothing(
    signed_in: SignIn, backends: Backends, definition: str, status: int, says: str
) -> None:
    admin = signed_in(Role.PLATFORM_ADMIN)
    admin.get("/portal/device-types")
    refused = admin.post("/portal/device-types", {"definition": definition})
    page = refused.get_data(as_text=True)
    assert refused.status_code == status
    error = re.search(r'id="definition-error"[^>]*>([^<]*)<', page)
    assert error is not None and says in error.group(1)
    assert _type_names(backends) == []


def test_a_changed_definition_of_a_registered_type_is_refused(signed_in: SignIn, backends: Backends) -> None:
    _register(backends, THERMOMETER)
    admin = signed_in(Role.PLATFORM_ADMIN)
    admin.get("/portal/device-types")
    changed = {**THERMOMETER, "description": "another one"}
    refused = admin.post("/portal/device-types", {"definition": json.dumps(changed)})
    assert refused.status_code == 409 and "different definition" in refused.get_data(as_text=True)


def test_types_register_from_a_zip_upload(signed_in: SignIn, backends: Backends) -> None:
    admin = signed_in(Role.PLATFORM_ADMIN)
    admin.get("/portal/device-types")
    archive = (io.BytesIO(zip_bytes(NEW_TYPES)), "types.zip")
    uploaded = admin.post("/portal/device-types/upload", {"file": archive})
    assert uploaded.status_code == 303 and uploaded.headers["Location"].endswith("done=types-uploaded")
    assert _type_names(backends) == ["SMARTFAN", "THERMOMETER"]


@pytest.mark.parametrize("bad", BAD_TYPE_UPLOADS[:4] + BAD_TYPE_UPLOADS[-2:], ids=lambda bad: bad.name)
def test_a_bad_type_zip_shows_each_problem_next_to_the_file_field_and_stores_nothing(
    signed_in: SignIn, backends: Backends, bad: object
) -> None:
    admin = signed_in(Role.PLATFORM_ADMIN)
    admin.get("/portal/device-types")
    archive = bad.archive
    refused = admin.post("/portal/device-types/upload", {"file": (io.BytesIO(archive), "types.zip")})
    assert refused.status_code == 400
    errors = re.search(
        r'<ul class="field-error" id="file-error"[^>]*>(.*?)</ul>', refused.get_data(as_text=True), re.S
    )
    assert errors is not None and bad.file in errors.group(1)
    assert all(field in errors.group(1) for field in bad.fields)
    assert _type_names(backends) == []


def _type_rows(reply: Any) -> list[str]:
    return re.findall(r"<tr><td>([A-Z0-9]+)</td>", reply.get_data(as_text=True))


def test_the_types_list_pages_and_filters(signed_in: SignIn, backends: Backends) -> None:
    probes = [{**THERMOMETER, "name": f"PROBE{number:02d}"} for number in range(50)]
    _register(backends, *probes, {**SMARTFAN, "company": "Fanco"})
    admin = signed_in(Role.PLATFORM_ADMIN)
    first = admin.get("/portal/device-types")
    assert "51 in all · page 1 of 2" in first.get_data(as_text=True) and len(_type_rows(first)) == 50
    second = admin.get("/portal/device-types?page=2")
    assert _type_rows(second) == ["SMARTFAN"] and 'rel="prev"' in second.get_data(as_text=True)
    assert _type_rows(admin.get("/portal/device-types?q=fanco")) == ["SMARTFAN"]
    assert _type_rows(admin.get("/portal/device-types?q=probe1")) == [f"PROBE1{n}" for n in range(10)]
    nothing = admin.get("/portal/device-types?q=nothing-like-it").get_data(as_text=True)
    assert "0 in all" in nothing and "No type matches" in nothing


def test_an_upload_without_a_file_or_with_a_non_zip_is_refused(signed_in: SignIn, backends: Backends) -> None:
    admin = signed_in(Role.PLATFORM_ADMIN)
    admin.get("/portal/device-types")
    empty = admin.post("/portal/device-types/upload", {})
    assert empty.status_code == 400 and "choose a zip file" in empty.get_data(as_text=True)
    not_zip = admin.post("/portal/device-types/upload", {"file": (io.BytesIO(b"hello"), "types.zip")})
    assert not_zip.status_code == 400 and 'id="file-error"' in not_zip.get_data(as_text=True)
    assert _type_names(backends) == []


def test_a_device_registers_through_the_form_and_its_credential_is_shown_once(
    signed_in: SignIn, backends: Backends, client: FlaskClient
) -> None:
    _register(backends, THERMOMETER)
    admin = signed_in(Role.PLATFORM_ADMIN)
    form_page = admin.get("/portal/devices/new").get_data(as_text=True)
    assert '<option value="THERMOMETER"' in form_page
    made = admin.post(
        "/portal/devices",
        {
            "id": "thermo-1",
            "type": "THERMOMETER",
            "location": "Hyd/Lab",
            "latitude": "17.4",
            "longitude": "78.5",
            "transport": "http",
            "config": '{"interval_s": 5}',
            "labels": "room=lab\nfloor = 2",
        },
    )
    assert made.status_code == 201 and made.headers["Cache-Control"] == "no-store"
    (device_id, credential), *_ = CREDENTIAL.findall(made.get_data(as_text=True))
    assert device_id == "thermo-1" and credential.startswith("cnd_")
    with backends.store.session() as session:
        device = devices.get_device(session, "thermo-1")
        assert (device.location_path, device.labels, device.config) == (
            "hyd/lab",
            {"room": "lab", "floor": "2"},
            {"interval_s": 5},
        )
    posted = client.post(
        "/api/v1/devices/thermo-1/telemetry",
        json={"reading": {"temperature": 21.5, "humidity": 40}},
        headers=bearer(credential),
    )
    assert posted.status_code == 202
    assert credential not in admin.get("/portal/devices/thermo-1").get_data(as_text=True)


@pytest.mark.parametrize(
    ("form", "field", "says", "status"),
    [
        ({"id": "Bad Id!"}, "id", "not a valid name", 400),
        ({"id": "taken"}, "id", "already exists", 409),
        ({"type": "NOPE"}, "type", "no device type", 400),
        ({"location": "//"}, "location", "at least one segment", 400),
        ({"latitude": "north"}, "latitude", "", 400),
        ({"latitude": "95", "longitude": "1"}, "latitude", "90", 400),
        ({"config": '{"interval_s": 0}'}, "config", "below the minimum", 400),
        ({"config": "{oops"}, "config", "not valid JSON", 400),
        ({"labels": "no equals sign"}, "labels", "key=value", 400),
        ({"transport": "pigeon"}, "transport", "", 400),
    ],
)
def test_a_bad_device_form_shows_the_error_next_to_its_field_and_stores_nothing(
    signed_in: SignIn, backends: Backends, form: dict, field: str, says: str, status: int
) -> None:
    _register(backends, THERMOMETER, fleet=(("taken", "THERMOMETER", "hyd", "kafka"),))
    admin = signed_in(Role.PLATFORM_ADMIN)
    admin.get("/portal/devices/new")
    base = {"id": "thermo-2", "type": "THERMOMETER", "location": "hyd/lab", "transport": "kafka"}
    refused = admin.post("/portal/devices", {**base, **form})
    page = refused.get_data(as_text=True)
    assert refused.status_code == status, page
    error = re.search(rf'id="{field}-error"[^>]*>([^<]*)<', page)
    assert error is not None and says in error.group(1), page
    assert 'value="hyd/lab"' in page or field == "location"
    assert _device_ids(backends) == ["taken"]


def test_a_zip_of_devices_registers_all_of_them_or_none(signed_in: SignIn, backends: Backends) -> None:
    _register(backends, THERMOMETER)
    admin = signed_in(Role.PLATFORM_ADMIN)
    admin.get("/portal/devices/new")
    files = {
        f"devices/{n}.json": {"id": f"z-{n}", "type": "THERMOMETER", "location": "blr/x"} for n in (1, 2)
    }
    bad = {**files, "devices/3.json": {"id": "z-3", "type": "NOPE", "location": "blr/x"}}
    refused = admin.post("/portal/devices/upload", {"file": (io.BytesIO(zip_bytes(bad)), "d.zip")})
    assert refused.status_code == 400
    assert "devices/3.json: type: no device type" in refused.get_data(as_text=True)
    assert _device_ids(backends) == []
    made = admin.post("/portal/devices/upload", {"file": (io.BytesIO(zip_bytes(files)), "d.zip")})
    assert made.status_code == 201
    assert sorted(d for d, _ in CREDENTIAL.findall(made.get_data(as_text=True))) == ["z-1", "z-2"]
    assert _device_ids(backends) == ["z-1", "z-2"]


@pytest.fixture()
def thousand_devices(backends: Backends) -> None:
    """THERMOMETER and SMARTFAN, and 1,000 devices over 4 cities x 5 streets."""
    cities, streets = ("hyd", "blr", "del", "mum"), ("a", "b", "c", "d", "e")
    fleet = tuple(
        (
            f"dev-{n:04d}",
            "SMARTFAN" if n % 10 == 0 else "THERMOMETER",
            f"{cities[n % 4]}/{streets[n % 5]}",
            "kafka",
        )
        for n in range(1000)
    )
    _register(backends, THERMOMETER, SMARTFAN, fleet=fleet)


def _listed(page: str) -> list[str]:
    return re.findall(r'<a href="/portal/devices/(dev-\d+)">', page)


def test_the_tree_pages_and_filters_a_thousand_devices(signed_in: SignIn, thousand_devices: None) -> None:
    admin = signed_in(Role.PLATFORM_ADMIN)
    seen = set()
    for number in range(1, 21):  # how fast: tests/bench/portal.py (p95 <= 100 ms with 1,000 devices)
        reply = admin.get(f"/portal/devices?page={number}")
        page = reply.get_data(as_text=True)
        assert reply.status_code == 200 and "1000 in all" in page and f"page {number} of 20" in page
        assert len(_listed(page)) == 50 and len(page) < 60_000
        seen.update(_listed(page))
    assert len(seen) == 1000
    first = admin.get("/portal/devices").get_data(as_text=True)
    assert re.search(r"<strong>blr</strong></a>\s*<span class=\"hint\">250 devices", first)
    assert re.search(r"<strong>a</strong></a>\s*<span class=\"hint\">50 devices", first)
    at = admin.get("/portal/devices?q=hyd/b").get_data(as_text=True)
    assert "50 in all" in at and '<strong>hyd</strong></a>\n    <span class="hint">50 devices' in at
    fans = admin.get("/portal/devices?q=smartfan").get_data(as_text=True)
    assert "100 in all" in fans and len(_listed(fans)) == 50
    one = admin.get("/portal/devices?q=dev-0042").get_data(as_text=True)
    assert _listed(one) == ["dev-0042"]
    none = admin.get("/portal/devices?q=%25").get_data(as_text=True)
    assert "0 in all" in none and "No device matches" in none
    last = admin.get("/portal/devices?page=999").get_data(as_text=True)
    assert "page 20 of 20" in last


@pytest.fixture()
def device_manager(backends: Backends) -> Iterator[None]:
    """The device manager, validating posted readings and keeping the latest values."""
    components = device_manager_components(backends)
    for component in components:
        component.start()
    yield
    for component in reversed(components):
        component.stop()


def test_readings_json_charts_the_readings_posted_through_the_api(
    signed_in: SignIn, backends: Backends, client: FlaskClient, device_manager: None
) -> None:
    credentials = _register(backends, THERMOMETER, fleet=(("t-1", "THERMOMETER", "hyd/lab", "http"),))
    admin = signed_in(Role.PLATFORM_ADMIN)
    empty = admin.get("/portal/devices/t-1/readings.json").get_json()
    assert empty == {"times": [], "series": []}
    for n in range(4):
        reading = {"temperature": 20.0 + n, "humidity": 40 + n, "status": "ok"}
        reply = client.post(
            "/api/v1/devices/t-1/telemetry", json={"reading": reading}, headers=bearer(credentials["t-1"])
        )
        assert reply.status_code == 202
    chart = wait_for(
        lambda: (data := admin.get("/portal/devices/t-1/readings.json").get_json())["times"][3:] and data,
        20,
        "four points in the chart",
    )
    assert isinstance(chart, dict)
    assert [series["label"] for series in chart["series"]] == ["temperature", "humidity"]
    assert chart["series"][0]["values"] == [20.0, 21.0, 22.0, 23.0]
    assert chart["series"][1]["values"] == [40.0, 41.0, 42.0, 43.0]
    assert chart["times"] == sorted(chart["times"]) and abs(chart["times"][-1] - time.time()) < 60
    page = wait_for(
        lambda: "23.0" in (text := admin.get("/portal/devices/t-1").get_data(as_text=True)) and text,
        20,
        "the latest reading on the page",
    )
    assert isinstance(page, str) and 'id="latest-reading"' in page and "°C" in page
    assert 'data-chart-url="/portal/devices/t-1/readings.json"' in page


def test_a_chart_starts_from_the_stored_latest_reading_and_answers_for_every_device(
    signed_in: SignIn, backends: Backends, thousand_devices: None
) -> None:
    with backends.store.session() as session:
        from canopy.telemetry.models import LatestReading

        session.add(
            LatestReading(
                device_id="dev-0001",
                device_type="THERMOMETER",
                reading={"temperature": 19.5, "humidity": 30, "snapshot": "aGk="},
                at=datetime(2026, 1, 1, tzinfo=UTC),
                source="http",
            )
        )
    admin = signed_in(Role.PLATFORM_ADMIN)
    chart = admin.get("/portal/devices/dev-0001/readings.json").get_json()
    assert chart["times"] == [datetime(2026, 1, 1, tzinfo=UTC).timestamp()]
    assert [(s["label"], s["values"]) for s in chart["series"]] == [
        ("temperature", [19.5]),
        ("humidity", [30.0]),
    ]
    for n in range(100):  # how fast: tests/bench/portal.py (a chart's data p95 <= 300 ms)
        assert admin.get(f"/portal/devices/dev-{n * 7:04d}/readings.json").status_code == 200
    assert admin.get("/portal/devices/nobody/readings.json").status_code == 404


@pytest.fixture()
def fans(backends: Backends) -> Iterator[list[str]]:
    """SMARTFAN fan-1 (acknowledges each command straight on the bus), fan-2 (silent), THERMOMETER t-9."""
    _register(
        backends,
        THERMOMETER,
        SMARTFAN,
        fleet=(
            ("fan-1", "SMARTFAN", "hyd", "kafka"),
            ("fan-2", "SMARTFAN", "hyd", "kafka"),
            ("t-9", "THERMOMETER", "hyd", "kafka"),
        ),
    )

    def fan_1(command: DeviceCommand) -> dict[str, Any] | None:
        if command.device_id != "fan-1":
            return None
        return {"on": command.params.get("on", False), "speed": command.params.get("speed", 0)}

    with acknowledging(backends.bus, fan_1) as acked:
        yield acked


def test_the_command_form_sends_and_shows_the_acknowledged_state(signed_in: SignIn, fans: list[str]) -> None:
    admin = signed_in(Role.PLATFORM_ADMIN)
    page = admin.get("/portal/devices/fan-1").get_data(as_text=True)
    assert 'id="command-set"' in page and 'id="command-stop"' in page
    assert 'name="param.speed"' in page and 'max="3"' in page
    sent = admin.post(
        "/portal/devices/fan-1/commands", {"command": "set", "param.on": "true", "param.speed": "2"}
    )
    assert sent.status_code == 303, sent.get_data(as_text=True)
    assert "/portal/devices/fan-1?command=" in sent.headers["Location"]
    result = admin.get(sent.headers["Location"]).get_data(as_text=True)
    assert "Acknowledged" in result and re.search(r"<td>speed</td><td>2</td>", result)
    assert fans and fans[-1] in result
    bad = admin.post(
        "/portal/devices/fan-1/commands", {"command": "set", "param.on": "true", "param.speed": "9"}
    )
    error = re.search(r'id="speed-error"[^>]*>([^<]*)<', bad.get_data(as_text=True))
    assert bad.status_code == 400 and error is not None and "above the maximum 3" in error.group(1)
    unknown = admin.post("/portal/devices/fan-1/commands", {"command": "spin"})
    assert unknown.status_code == 400 and "unknown command" in unknown.get_data(as_text=True)


def test_a_command_without_acknowledgement_shows_the_timeout(signed_in: SignIn, fans: list[str]) -> None:
    admin = signed_in(Role.PLATFORM_ADMIN)
    admin.get("/portal/devices/fan-2")
    sent = admin.post("/portal/devices/fan-2/commands", {"command": "stop"})
    assert sent.status_code == 303
    result = admin.get(sent.headers["Location"]).get_data(as_text=True)
    assert "No acknowledgement within 5 s" in result and 'data-refresh="2"' in result


def test_sensors_have_no_command_form_and_refuse_commands(signed_in: SignIn, fans: list[str]) -> None:
    admin = signed_in(Role.PLATFORM_ADMIN)
    page = admin.get("/portal/devices/t-9").get_data(as_text=True)
    assert 'class="command"' not in page
    refused = admin.post("/portal/devices/t-9/commands", {"command": "set"})
    assert refused.status_code == 400 and "only controllers take commands" in refused.get_data(as_text=True)
    other = admin.get("/portal/devices/fan-1?command=not-a-command")
    assert other.status_code == 404


@pytest.mark.parametrize("role", [Role.AI_DEVELOPER, Role.APP_DEVELOPER, Role.END_USER])
def test_other_roles_are_refused(signed_in: SignIn, fans: list[str], role: Role) -> None:
    browser = signed_in(role)
    for path in (
        "/portal/devices",
        "/portal/devices/new",
        "/portal/devices/fan-1",
        "/portal/devices/fan-1/readings.json",
    ):
        assert browser.get(path).status_code == 403, path
    for path, form in (
        ("/portal/devices", {"type": "SMARTFAN", "location": "x"}),
        ("/portal/devices/upload", {}),
        ("/portal/device-types", {"definition": json.dumps(THERMOMETER)}),
        ("/portal/device-types/upload", {}),
        ("/portal/devices/fan-1/commands", {"command": "stop"}),
    ):
        assert browser.post(path, form).status_code == 403, path
    assert fans == []
    types = browser.get("/portal/device-types")
    if role is Role.AI_DEVELOPER:
        assert types.status_code == 403
    else:
        assert types.status_code == 200 and "SMARTFAN" in types.get_data(as_text=True)
        assert 'id="type-form"' not in types.get_data(as_text=True)


def test_signed_out_visitors_are_sent_to_sign_in(client: FlaskClient) -> None:
    reply = client.get("/portal/devices")
    assert reply.status_code == 302 and "/portal/login?next=/portal/devices" in reply.headers["Location"]
