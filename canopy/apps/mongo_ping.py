"""A MongoDB `ping` over a unix socket with the standard library only (the platform needs no driver).

The platform probes an instance's FerretDB this way before the workload starts; FerretDB answers
`ping` only once its backend (SQLite or PostgreSQL) works, and says why when it does not.
"""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path

OP_MSG = 2013
_HEADER = struct.Struct("<iiii")
_FIXED_SIZES = {1: 8, 7: 12, 8: 1, 9: 8, 10: 0, 16: 4, 17: 8, 18: 8, 19: 16}  # BSON type -> value bytes


def _cstring(text: str) -> bytes:
    return text.encode() + b"\x00"


def ping_message(request_id: int = 1) -> bytes:
    """An OP_MSG carrying {ping: 1, $db: "admin"}."""
    db = b"admin"
    elements = b"\x10" + _cstring("ping") + struct.pack("<i", 1)
    elements += b"\x02" + _cstring("$db") + struct.pack("<i", len(db) + 1) + db + b"\x00"
    document = struct.pack("<i", len(elements) + 5) + elements + b"\x00"
    body = struct.pack("<I", 0) + b"\x00" + document
    return _HEADER.pack(_HEADER.size + len(body), request_id, 0, OP_MSG) + body


def top_level_fields(document: bytes) -> dict[str, object]:
    """The numbers, booleans and strings at the top of a BSON document (other values are skipped)."""
    fields: dict[str, object] = {}
    end, at = struct.unpack_from("<i", document)[0] - 1, 4
    while at < end:
        kind = document[at]
        name_end = document.index(b"\x00", at + 1)
        name, at = document[at + 1 : name_end].decode(), name_end + 1
        if kind == 1:
            fields[name] = struct.unpack_from("<d", document, at)[0]
        elif kind in (16, 18):
            fields[name] = struct.unpack_from("<i" if kind == 16 else "<q", document, at)[0]
        elif kind == 8:
            fields[name] = document[at] == 1
        if kind in _FIXED_SIZES:
            at += _FIXED_SIZES[kind]
        elif kind in (2, 13, 14):
            size = struct.unpack_from("<i", document, at)[0]
            if kind == 2:
                fields[name] = document[at + 4 : at + 3 + size].decode("utf-8", "replace")
            at += 4 + size
        elif kind in (3, 4, 15):
            at += struct.unpack_from("<i", document, at)[0]
        elif kind == 5:
            at += 5 + struct.unpack_from("<i", document, at)[0]
        else:
            break
    return fields


def _receive(conn: socket.socket) -> bytes:
    """One whole wire message."""
    data = b""
    while len(data) < 4 or len(data) < struct.unpack_from("<i", data)[0]:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection before answering")
        data += chunk
    return data


def ping(socket_path: Path, timeout: float = 5.0) -> str | None:
    """None when the server at `socket_path` answers ping with ok: 1, otherwise what went wrong.

    The socket is reached through /proc/self/fd of its directory, so a path longer than the 107
    bytes a unix socket address holds works too.
    """
    try:
        directory = os.open(socket_path.parent, os.O_PATH | os.O_DIRECTORY)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(f"/proc/self/fd/{directory}/{socket_path.name}")
            conn.sendall(ping_message())
            reply = _receive(conn)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        os.close(directory)
    if _HEADER.unpack_from(reply)[3] != OP_MSG or reply[20] != 0:
        return "the server did not answer with an OP_MSG document"
    answer = top_level_fields(reply[21:])
    if answer.get("ok") == 1:
        return None
    return str(answer.get("errmsg") or f"ping answered {answer}")
