"""The SDK's app calls on a fake gateway: names inside an instance, the original index calls, host calls."""

from __future__ import annotations

import base64
import json
import logging
import sys
import threading
import types
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import platform_sdk
import pytest
from platform_sdk import models
from platform_sdk._client import ApiClient, default_client, save_token

from canopy.errors import BadRequest, ConfigError, NotFound, TooManyRequests, ValidationFailed
from tests.fake_gateway import TOKEN, GatewayState, fake_gateway, legacy_state


@pytest.fixture()
def state() -> GatewayState:
    return legacy_state()


@pytest.fixture()
def gateway(state: GatewayState) -> Iterator[str]:
    with fake_gateway(state) as url:
        yield url


@pytest.fixture()
def instance(gateway: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The process runs as the app instance of the fake gateway."""
    monkeypatch.setenv("CANOPY_API_URL", gateway)
    monkeypatch.setenv("CANOPY_TOKEN", TOKEN)
    monkeypatch.setenv("CANOPY_INSTANCE_ID", "i0123456789")
    monkeypatch.setattr(models, "_shared", None)
    return gateway


def _in_background(state: GatewayState, device: str, call: Any, *readings: dict[str, Any]) -> Any:
    """Run an SDK call that waits for the next readings; publish them once its stream is open."""
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(call)
        state.wait_for_stream(device)
        for reading in readings:
            state.publish(device, reading)
        return future.result(timeout=10)


def test_names_resolve_through_the_instance_view_asked_once(state: GatewayState, instance: str) -> None:
    state.latest["buzzer-1"] = {"on": False}
    state.latest["temp-1"] = {"data": 21.5}
    assert platform_sdk.get_sensor_data("alarm") == {"on": False}
    assert platform_sdk.get_sensor_data("sensor_0") == {"data": 21.5}
    assert ("GET", "/api/v1/devices/buzzer-1/latest") in state.requests
    assert state.requests.count(("GET", "/api/v1/app-instances/self")) == 1


def test_stream_sensor_yields_new_readings_of_a_role(state: GatewayState, instance: str) -> None:
    def two() -> list[dict[str, Any]]:
        return list(platform_sdk.stream_sensor("sensor_1", limit=2))

    assert _in_background(state, "press-1", two, {"zeta": 1.0, "alpha": 2}, {"zeta": 3.0, "alpha": 4}) == [
        {"zeta": 1.0, "alpha": 2},
        {"zeta": 3.0, "alpha": 4},
    ]


def test_commands_by_name_name_the_command_or_take_the_default(state: GatewayState, instance: str) -> None:
    assert platform_sdk.send_controller_data("alarm", "beep", seconds=2) == {"seconds": 2}
    assert platform_sdk.send_controller_data("alarm", on=True) == {"on": True}
    assert platform_sdk.send_controller_data("alarm", command="stop") == {}
    assert state.commands == [
        ("buzzer-1", {"command": "beep", "params": {"seconds": 2}}),
        ("buzzer-1", {"command": "beep", "params": {"on": True}}),
        ("buzzer-1", {"command": "stop", "params": {}}),
    ]


def test_the_gateway_refuses_a_bad_parameter_naming_it(state: GatewayState, instance: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        platform_sdk.send_controller_data("alarm", volume=11)
    assert refused.value.details == {"volume": "unknown field"}
    assert state.commands == []


def test_model_call_by_declared_name(state: GatewayState, instance: str) -> None:
    assert platform_sdk.model_call("forecast", {"t": 20}) == {"echo": {"t": 20}}
    assert ("POST", "/api/v1/models/m-forecast/predict") in state.requests  # through the gateway


def test_an_undeclared_role_or_model_names_the_declared_ones(instance: str) -> None:
    with pytest.raises(NotFound, match="no device role 'fan'; its roles are: alarm, controller_0, sensor_0"):
        platform_sdk.get_sensor_data("fan")
    with pytest.raises(NotFound, match=r"sensor_7.*its roles are: alarm"):
        platform_sdk.get_sensor_data(7)
    with pytest.raises(NotFound, match="no model 'weather'; its models are: forecast, model_0"):
        platform_sdk.model_call("weather", {})


def test_get_sensor_data_by_index_waits_for_the_next_reading(state: GatewayState, instance: str) -> None:
    state.latest["temp-1"] = {"data": 1.0}
    assert _in_background(state, "temp-1", lambda: platform_sdk.get_sensor_data(0), {"data": 24.5}) == 24.5


def test_a_type_with_several_fields_gives_the_values_in_the_type_order(
    state: GatewayState, instance: str
) -> None:
    reading = {"alpha": 7, "zeta": 1013.2}
    assert _in_background(state, "press-1", lambda: platform_sdk.get_sensor_data(1), reading) == [1013.2, 7]


def test_images_by_index_and_a_stream_of_them(state: GatewayState, instance: str) -> None:
    frames = [{"data": base64.b64encode(bytes([n]) * 4).decode()} for n in range(3)]
    assert _in_background(state, "cam-1", lambda: platform_sdk.get_sensor_image(2), frames[0]) == b"\x00" * 4
    images = _in_background(state, "cam-1", lambda: platform_sdk.get_stream_image(2, 3), *frames)
    assert images == [b"\x00" * 4, b"\x01" * 4, b"\x02" * 4]
    state.latest["cam-1"] = frames[2]
    assert platform_sdk.get_sensor_image("sensor_2") == b"\x02" * 4


def test_send_controller_data_by_index_fills_the_default_command(state: GatewayState, instance: str) -> None:
    assert platform_sdk.send_controller_data(0, "Sun") == {"data": "Sun"}
    assert state.commands == [("display-1", {"command": "set", "params": {"data": "Sun"}})]
    with pytest.raises(BadRequest, match="2 values for command set of controller_0, which takes 1: data"):
        platform_sdk.send_controller_data(0, "Sun", "Rain")


def test_predictions_by_index_answer_as_legacy_models_do(state: GatewayState, instance: str) -> None:
    assert platform_sdk.get_prediction(0, {"temp": 20, "pressure": 1000}) == {"output": ["pressure", "temp"]}
    assert platform_sdk.get_prediction_using_image(0, b"\x89PNG") == {"output": "an image"}
    model, content_type, body = state.predictions[-1]
    assert model == "m-weather" and content_type.startswith("multipart/form-data")
    assert b'name="image"' in body and b"\x89PNG" in body


def test_index_calls_outside_an_instance_say_what_to_do(
    gateway: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CANOPY_INSTANCE_ID", raising=False)
    with pytest.raises(ConfigError, match=r"sensor index 0 names the role sensor_0.*pass a device id"):
        platform_sdk.get_sensor_data(0, ApiClient(gateway, TOKEN))


def test_host_calls_take_device_ids(
    state: GatewayState, gateway: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CANOPY_INSTANCE_ID", raising=False)
    api = ApiClient(gateway, TOKEN)
    state.latest["press-1"] = {"zeta": 1.5, "alpha": 3}
    assert platform_sdk.get_sensor_data("press-1", api) == {"zeta": 1.5, "alpha": 3}
    assert platform_sdk.send_controller_data("buzzer-1", client=api, seconds=1) == {"seconds": 1}
    state.latest["cam-1"] = {"data": base64.b64encode(b"png").decode()}
    assert platform_sdk.get_sensor_image("cam-1", client=api) == b"png"
    assert ("GET", "/api/v1/app-instances/self") not in state.requests
    with pytest.raises(NotFound, match="'temp-1' has not sent a reading yet"):
        platform_sdk.get_sensor_data("temp-1", api)


def test_notifications_are_posted_and_rate_limited(state: GatewayState, instance: str) -> None:
    state.notify_limit = 2
    assert platform_sdk.notify("Fan failing", "p=0.93") == {"accepted": True}
    platform_sdk.send_email_notification("ops@example.com", "Weather", "Rain")
    assert state.notifications == [
        {"subject": "Fan failing", "body": "p=0.93", "to": None},
        {"subject": "Weather", "body": "Rain", "to": "ops@example.com"},
    ]
    with pytest.raises(TooManyRequests):
        platform_sdk.notify("again", "x")


def test_get_logger_writes_one_json_line_per_record(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANOPY_INSTANCE_ID", "i42")
    logger = platform_sdk.get_logger("script1", "127.0.0.1:9092", level=logging.INFO)
    assert platform_sdk.get_logger("script1", level=logging.INFO) is logger and len(logger.handlers) == 1
    logger.handlers[0].setStream(sys.stderr)  # type: ignore[attr-defined]
    logger.debug("hidden")
    logger.info("counted %d", 3)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert {k: record[k] for k in ("level", "source", "instance", "message")} == {
        "level": "INFO",
        "source": "script1",
        "instance": "i42",
        "message": "counted 3",
    }
    assert record["time"].endswith("+00:00")


def test_the_database_calls_need_the_database_flag_and_pymongo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CANOPY_MONGODB_URI", raising=False)
    with pytest.raises(ConfigError, match='declare "database": true'):
        platform_sdk.get_mongo_db_uri()
    monkeypatch.setenv("CANOPY_MONGODB_URI", "mongodb://u:p@127.0.0.1:27018/i42")
    monkeypatch.setenv("CANOPY_MONGODB_DATABASE", "i42")
    assert platform_sdk.get_mongo_db_uri() == "mongodb://u:p@127.0.0.1:27018/i42"
    monkeypatch.setitem(sys.modules, "pymongo", None)
    with pytest.raises(ConfigError, match=r"add pymongo to the app's requirements\.txt"):
        platform_sdk.get_mongo_db_database()
    fake = types.ModuleType("pymongo")
    fake.MongoClient = lambda uri: {"i42": f"database i42 at {uri}"}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pymongo", fake)
    assert platform_sdk.get_mongo_db_database() == "database i42 at mongodb://u:p@127.0.0.1:27018/i42"


def test_default_client_reads_the_token_canopy_login_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("CANOPY_HOME", str(home))
    monkeypatch.delenv("CANOPY_TOKEN", raising=False)
    save_token("http://10.0.0.5:8080", "cnp_saved")
    assert (home.stat().st_mode & 0o777, (home / "credentials.json").stat().st_mode & 0o777) == (0o700, 0o600)
    client = default_client({"CANOPY_HOME": str(home), "CANOPY_API_URL": "http://10.0.0.5:8080/"})
    assert (client.api_url, client.token) == ("http://10.0.0.5:8080", "cnp_saved")
    assert default_client({"CANOPY_HOME": str(home)}).token == ""
    given = default_client(
        {"CANOPY_HOME": str(home), "CANOPY_API_URL": "http://10.0.0.5:8080", "CANOPY_TOKEN": "t"}
    )
    assert given.token == "t"


def test_the_instance_view_is_asked_once_by_concurrent_callers(state: GatewayState, instance: str) -> None:
    state.latest["temp-1"] = {"data": 1.0}
    threads = [threading.Thread(target=platform_sdk.get_sensor_data, args=("sensor_0",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert state.requests.count(("GET", "/api/v1/app-instances/self")) == 1
