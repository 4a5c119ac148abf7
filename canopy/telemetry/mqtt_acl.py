"""Who may do what on Mosquitto, pure: the platform's and each device's roles in the dynamic-security plugin.

A device logs in with username = client id = its device id and password = its credential; its role
lets it publish only its own telemetry and state topics and subscribe to (and receive) only its own
command topic. The platform account (the bridge, and the gateway managing device accounts) reads every
device's telemetry and state, sends commands, and administers the plugin. Nothing else is allowed:
the defaults deny publishing, subscribing and receiving.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

from canopy.telemetry.mqtt import STATE_FILTER, TELEMETRY_FILTER, topic_for

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
PLATFORM_ROLE = "canopy-platform"
DEVICE_ROLE_PREFIX = "canopy-device-"
HASH_ITERATIONS = 101  # the plugin's own default; the secrets hashed are random 256-bit strings
DEFAULT_ACCESS = {
    "publishClientSend": False,
    "publishClientReceive": False,
    "subscribe": False,
    "unsubscribe": True,
}
Acl = dict[str, Any]
Command = dict[str, Any]


def acl(kind: str, topic: str) -> Acl:
    """One allowing ACL entry of the plugin."""
    return {"acltype": kind, "topic": topic, "allow": True}


def device_role(device_id: str) -> str:
    """The name of a device's own role."""
    return f"{DEVICE_ROLE_PREFIX}{device_id}"


def device_acls(device_id: str) -> list[Acl]:
    """A device publishes its telemetry and state and takes only its own commands."""
    commands = topic_for(device_id, "commands")
    return [
        acl("publishClientSend", topic_for(device_id, "telemetry")),
        acl("publishClientSend", topic_for(device_id, "state")),
        acl("subscribeLiteral", commands),
        acl("publishClientReceive", commands),
    ]


def platform_acls() -> list[Acl]:
    """The platform reads every device's telemetry and state, sends commands and manages accounts."""
    entries = [acl("subscribeLiteral", f) for f in (TELEMETRY_FILTER, STATE_FILTER)]
    entries += [acl("publishClientReceive", f) for f in (TELEMETRY_FILTER, STATE_FILTER)]
    entries.append(acl("publishClientSend", topic_for("+", "commands")))
    entries += [
        acl(kind, f"{CONTROL_TOPIC}/#")
        for kind in ("publishClientSend", "publishClientReceive", "subscribePattern")
    ]
    return entries


def put_device_commands(device_id: str, credential: str) -> list[Command]:
    """Commands that (re)create a device's account and role with this credential.

    Deleting first makes the change whole whatever was there (a stale account, an older credential)
    and disconnects a client still logged in with an old credential.
    """
    return [
        *remove_device_commands(device_id),
        {"command": "createRole", "rolename": device_role(device_id), "acls": device_acls(device_id)},
        {
            "command": "createClient",
            "username": device_id,
            "clientid": device_id,
            "password": credential,
            "roles": [{"rolename": device_role(device_id)}],
        },
    ]


def remove_device_commands(device_id: str) -> list[Command]:
    """Commands that delete a device's account and role (absent ones are fine)."""
    return [
        {"command": "deleteClient", "username": device_id},
        {"command": "deleteRole", "rolename": device_role(device_id)},
    ]


def tolerated(command: Command, error: str) -> bool:
    """Whether a failed command does not matter: deleting what is already gone."""
    return command["command"].startswith("delete") and "not found" in error.lower()


def hashed_password(password: str, salt: bytes | None = None) -> dict[str, Any]:
    """The plugin's stored form of a password: PBKDF2-SHA512 over a random salt, base64."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, HASH_ITERATIONS, 64)
    return {
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": HASH_ITERATIONS,
    }


def with_platform_account(document: dict[str, Any], username: str, password: str) -> dict[str, Any]:
    """The plugin's config with the platform account and role (re)set and the deny-all defaults.

    Device accounts already in `document` are kept.
    """
    clients = [c for c in document.get("clients", []) if c.get("username") != username]
    roles = [r for r in document.get("roles", []) if r.get("rolename") != PLATFORM_ROLE]
    platform = {"username": username, "roles": [{"rolename": PLATFORM_ROLE}], **hashed_password(password)}
    return {
        **document,
        "clients": [platform, *clients],
        "roles": [{"rolename": PLATFORM_ROLE, "acls": platform_acls()}, *roles],
        "groups": document.get("groups", []),
        "defaultACLAccess": dict(DEFAULT_ACCESS),
    }
