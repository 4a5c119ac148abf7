"""Mosquitto's authentication: the platform account generated per install and a raw CONNECT probe.

The account lives in $CANOPY_HOME/infra/mosquitto/platform.env (mode 0600), in the CANOPY_* settings
the platform reads, so `set -a; . platform.env` configures a shell. The broker knows it from the
dynamic-security plugin's config, which keeps every device account between restarts.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from pathlib import Path
from typing import Any

from canopy.private import write_private_file
from canopy.telemetry.mqtt_acl import with_platform_account

PLATFORM_USERNAME = "canopy-platform"
ACCEPTED, NOT_AUTHORISED = 0, 5


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of an env file (comments and blank lines skipped); empty when absent."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return {}
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def platform_env(port: int, username: str, password: str) -> str:
    """The env file of the platform account on the broker at 127.0.0.1:port."""
    return (
        "# The platform's account on the Mosquitto of `canopy infra up`. Keep it secret.\n"
        f"CANOPY_MQTT_URL=mqtt://127.0.0.1:{port}\n"
        f"CANOPY_MQTT_USERNAME={username}\n"
        f"CANOPY_MQTT_PASSWORD={password}\n"
    )


def ensure_platform_account(env_file: Path, dynsec_file: Path, port: int) -> tuple[str, str]:
    """Generate the platform account once, and (re)write it into the plugin's config; (user, password)."""
    known = read_env_file(env_file)
    username = known.get("CANOPY_MQTT_USERNAME") or PLATFORM_USERNAME
    password = known.get("CANOPY_MQTT_PASSWORD") or secrets.token_urlsafe(32)
    write_private_file(env_file, platform_env(port, username, password).encode())
    document: dict[str, Any] = json.loads(dynsec_file.read_text()) if dynsec_file.exists() else {}
    document = with_platform_account(document, username, password)
    write_private_file(dynsec_file, json.dumps(document, indent=2).encode())
    return username, password


def _string(value: str) -> bytes:
    """An MQTT length-prefixed UTF-8 string."""
    data = value.encode()
    return len(data).to_bytes(2, "big") + data


def _remaining_length(length: int) -> bytes:
    """MQTT's variable-length encoding of a packet's remaining length."""
    out = bytearray()
    while True:
        length, digit = divmod(length, 128)
        out.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(out)


def connect_packet(client_id: str, username: str | None = None, password: str | None = None) -> bytes:
    """An MQTT 3.1.1 CONNECT packet with a clean session, a 30 s keep-alive and optional credentials."""
    flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    variable = b"\x00\x04MQTT\x04" + bytes([flags]) + b"\x00\x1e"
    payload = _string(client_id)
    payload += _string(username) if username is not None else b""
    payload += _string(password) if password is not None else b""
    return b"\x10" + _remaining_length(len(variable) + len(payload)) + variable + payload


def connack_code(
    host: str, port: int, timeout: float, username: str | None = None, password: str | None = None
) -> int | None:
    """The return code of the broker's CONNACK to a CONNECT, or None when nothing MQTT answers."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(connect_packet(f"canopy-probe-{os.getpid()}", username, password))
            reply = b""
            while len(reply) < 4:
                chunk = conn.recv(4 - len(reply))
                if not chunk:
                    break
                reply += chunk
            conn.sendall(b"\xe0\x00")
    except OSError:
        return None
    return reply[3] if len(reply) == 4 and reply[:3] == b"\x20\x02\x00" else None
