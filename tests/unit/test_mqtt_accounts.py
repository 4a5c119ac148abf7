"""MQTT accounts, pure: device and platform roles, plugin commands, stored passwords, the env file."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path

from bootstrap.infra.mosquitto_auth import ensure_platform_account, read_env_file
from canopy.telemetry.mqtt_acl import (
    DEFAULT_ACCESS,
    HASH_ITERATIONS,
    PLATFORM_ROLE,
    device_acls,
    device_role,
    hashed_password,
    put_device_commands,
    remove_device_commands,
    tolerated,
    with_platform_account,
)
from services.device_manager.mqtt_bridge import installation_client_id


def test_a_device_may_publish_its_telemetry_and_state_and_take_only_its_commands() -> None:
    assert {(a["acltype"], a["topic"]) for a in device_acls("d1")} == {
        ("publishClientSend", "canopy/devices/d1/telemetry"),
        ("publishClientSend", "canopy/devices/d1/state"),
        ("subscribeLiteral", "canopy/devices/d1/commands"),
        ("publishClientReceive", "canopy/devices/d1/commands"),
    }
    assert not any("+" in a["topic"] or "#" in a["topic"] for a in device_acls("d1"))


def test_putting_an_account_replaces_it_whole_and_pins_the_client_id() -> None:
    commands = put_device_commands("d1", "cnd_x")
    assert [c["command"] for c in commands] == ["deleteClient", "deleteRole", "createRole", "createClient"]
    client = commands[-1]
    assert (client["username"], client["clientid"], client["password"]) == ("d1", "d1", "cnd_x")
    assert client["roles"] == [{"rolename": device_role("d1")}] and commands[2]["acls"] == device_acls("d1")
    assert commands[:2] == remove_device_commands("d1")


def test_only_deleting_what_is_gone_is_tolerated() -> None:
    assert tolerated({"command": "deleteClient"}, "Client not found")
    assert not tolerated({"command": "createClient"}, "Client not found")
    assert not tolerated({"command": "deleteRole"}, "Internal error")


def test_stored_passwords_are_pbkdf2_sha512_over_a_random_salt() -> None:
    salt = b"0123456789ab"
    entry = hashed_password("secret", salt)
    expected = hashlib.pbkdf2_hmac("sha512", b"secret", salt, HASH_ITERATIONS, 64)
    assert entry == {
        "password": base64.b64encode(expected).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": HASH_ITERATIONS,
    }
    assert hashed_password("secret")["salt"] != hashed_password("secret")["salt"]


def test_the_platform_account_is_reset_and_device_accounts_kept() -> None:
    old = {"clients": [{"username": "canopy-platform"}, {"username": "d1"}], "roles": [{"rolename": "r"}]}
    document = with_platform_account(old, "canopy-platform", "pw")
    assert [c["username"] for c in document["clients"]] == ["canopy-platform", "d1"]
    assert [r["rolename"] for r in document["roles"]] == [PLATFORM_ROLE, "r"]
    assert document["defaultACLAccess"] == DEFAULT_ACCESS and not DEFAULT_ACCESS["publishClientReceive"]


def test_the_platform_account_is_made_once_and_kept_private(tmp_path: Path) -> None:
    env, dynsec = tmp_path / "platform.env", tmp_path / "dynsec.json"
    first = ensure_platform_account(env, dynsec, 18830)
    assert ensure_platform_account(env, dynsec, 18830) == first
    settings = read_env_file(env)
    assert settings["CANOPY_MQTT_URL"] == "mqtt://127.0.0.1:18830"
    assert (settings["CANOPY_MQTT_USERNAME"], settings["CANOPY_MQTT_PASSWORD"]) == first
    assert first[1] not in dynsec.read_text() and json.loads(dynsec.read_text())["clients"][0]["username"]
    for path in (env, dynsec):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_bridge_client_id_is_unique_per_installation_and_stable(tmp_path: Path) -> None:
    first = installation_client_id(tmp_path)
    assert first.startswith("canopy-bridge-") and installation_client_id(tmp_path) == first
    assert stat.S_IMODE((tmp_path / "mqtt-bridge-client-id").stat().st_mode) == 0o600
    (tmp_path / "other").mkdir()
    assert installation_client_id(tmp_path / "other") != first
